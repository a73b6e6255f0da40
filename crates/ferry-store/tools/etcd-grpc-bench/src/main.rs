//! `etcd-grpc-bench ENDPOINT OBJECTS WRITERS PREFIX`: WRITERS concurrent gRPC clients put OBJECTS keys of
//! 1 KiB under PREFIX, then overwrite each once. Prints `creates <per second>` and `updates <per second>`.

use std::time::Instant;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let [_, endpoint, objects, writers, prefix] = &args[..] else {
        return Err("usage: etcd-grpc-bench ENDPOINT OBJECTS WRITERS PREFIX".into());
    };
    let objects: usize = objects.parse()?;
    let writers: usize = writers.parse::<usize>()?.max(1);
    for (phase, fill) in [("creates", b'a'), ("updates", b'b')] {
        let mut clients = Vec::with_capacity(writers);
        for _ in 0..writers {
            clients.push(etcd_client::Client::connect([endpoint.as_str()], None).await?);
        }
        let started = Instant::now();
        let tasks: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(writer, mut client)| {
                let prefix = prefix.clone();
                tokio::spawn(async move {
                    for i in (writer..objects).step_by(writers) {
                        client
                            .put(format!("{prefix}{i:05}"), vec![fill; 1024], None)
                            .await?;
                    }
                    Ok::<_, etcd_client::Error>(())
                })
            })
            .collect();
        for task in tasks {
            task.await??;
        }
        println!("{phase} {:.0}", objects as f64 / started.elapsed().as_secs_f64());
    }
    Ok(())
}
