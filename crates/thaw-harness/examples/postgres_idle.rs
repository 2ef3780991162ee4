//! tokio-postgres against PostgreSQL's idle_session_timeout, with a
//! connection kept across invocations: the server ends the idle session
//! while the function is frozen; the next invocation gets the real
//! library's error at the instant `thaw run` predicts; a reconnect-on-error
//! wrapper fixes it.
//!
//!     cargo run --release -p thaw-harness --example postgres_idle
use std::path::PathBuf;
use thaw_harness::net::TcpStream;
use thaw_harness::{BoxError, Function, Harness, HarnessReport, Invocation};
use tokio_postgres::{Client, Config, NoTls};

async fn connect() -> Result<Client, BoxError> {
    let stream = TcpStream::connect("postgres:5432").await?;
    let (client, connection) = Config::new()
        .user("app")
        .dbname("app")
        .connect_raw(stream, NoTls)
        .await?;
    // The connection task reads the socket; it ends when the socket does.
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!("connection task ended: {e}");
        }
    });
    Ok(client)
}

/// A `Client` kept in the environment's state, used as is.
pub struct Kept;

impl Function for Kept {
    type State = Client;
    async fn init(&self, _: &Invocation) -> Result<Client, BoxError> {
        connect().await
    }
    async fn handle(&self, client: &mut Client, _: &Invocation) -> Result<(), BoxError> {
        client.simple_query("SELECT 1").await?;
        Ok(())
    }
}

/// The same, reconnecting once when the kept connection fails.
pub struct Reconnecting;

impl Function for Reconnecting {
    type State = Client;
    async fn init(&self, _: &Invocation) -> Result<Client, BoxError> {
        connect().await
    }
    async fn handle(&self, client: &mut Client, _: &Invocation) -> Result<(), BoxError> {
        match client.simple_query("SELECT 1").await {
            Ok(_) => Ok(()),
            Err(e) if client.is_closed() => {
                tracing::info!("query failed on a closed connection ({e}); reconnecting");
                *client = connect().await?;
                client.simple_query("SELECT 1").await?;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}

fn print(title: &str, r: &HarnessReport) {
    println!("{title}");
    for o in &r.report.result.outcomes {
        let c = r.code(o.id);
        println!(
            "  invocation {}: {} at {} — the code saw: {}",
            o.id,
            o.error.map_or("ok".to_string(), |k| k.to_string()),
            c.map_or(o.at + o.latency, |c| c.at),
            c.and_then(|c| c.error.clone())
                .unwrap_or_else(|| "ok".into()),
        );
    }
}

pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../sim-scenarios/examples/postgres-idle-session-kept.toml");
    let kept = Harness::from_scenario(&path, &[], Kept)?.run()?;
    print("tokio-postgres, connection kept as is:", &kept);
    if std::env::args().any(|a| a == "--timeline") {
        print!("{}", kept.timeline());
    }
    let text = std::fs::read_to_string(&path)?;
    let model =
        thaw_scenario::load(&path.display().to_string(), &text, &[]).map_err(|e| e.render())?;
    let m = thaw_sim::run(&model.config, &mut thaw_core::NullSink, true)?;
    let o = &m.outcomes[1];
    println!(
        "  thaw run (model client): invocation 2 {} at {}",
        o.error.map_or("ok".into(), |k| k.to_string()),
        o.at + o.latency
    );
    let fixed = Harness::from_scenario(&path, &[], Reconnecting)?.run()?;
    print("\nwith a reconnect-on-error wrapper:", &fixed);
    if std::env::args().any(|a| a == "--timeline") {
        print!("{}", fixed.timeline());
    }
    Ok(())
}
