//! A minimal `template NAME CHART` process (no `--set` flags), used by the
//! render benchmark as a stand-in for `ferry template` when the `ferry`
//! binary is not built.

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (name, chart) = match args.as_slice() {
        [cmd, name, chart, ..] if cmd == "template" => (name.clone(), chart.clone()),
        _ => {
            eprintln!("usage: template template NAME CHART");
            return std::process::ExitCode::FAILURE;
        }
    };
    let request = ferry_helm::TemplateRequest {
        chart: chart.into(),
        values: ferry_helm::UserValues::default(),
        options: ferry_helm::RenderOptions {
            release_name: name,
            ..ferry_helm::RenderOptions::default()
        },
        show_only: Vec::new(),
    };
    match ferry_helm::template(&request) {
        Ok(out) => {
            print!("{out}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
