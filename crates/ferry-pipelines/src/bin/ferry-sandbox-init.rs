//! The in-namespace setup of a step sandbox (see `ferry_pipelines::executor::init`).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match ferry_pipelines::executor::init::sandbox_init(&args) {
        Ok(never) => match never {},
        Err(message) => {
            eprintln!("ferry sandbox: {message}");
            std::process::exit(127);
        }
    }
}
