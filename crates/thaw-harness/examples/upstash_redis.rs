//! The Upstash incident with the real `redis` crate: a connection kept in
//! the function's state (outside the handler) outlives a freeze; the
//! server closes it at 60 s while the function is frozen, a firewall
//! forgets the flow, and the request after the thaw at 95 s fails with
//! ETIMEDOUT (TCP_USER_TIMEOUT = 1 s in the scenario). The environment is
//! reaped; invocation 3 cold-starts and succeeds.
//!
//!     cargo run --release -p thaw-harness --example upstash_redis
//!
//! It runs the scenario three times: with the redis crate's response
//! timeout off (the kernel decides, as in the scenario's model client),
//! with the crate's default response timeout (500 ms: the library gives
//! up before the kernel does), and with the fix (`server.idle_timeout`
//! above the reap time: nothing fails). It compares the first with
//! `thaw run` on the same file.
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisConnectionInfo};
use std::path::PathBuf;
use std::time::Duration;
use thaw_harness::{BoxError, Function, Harness, HarnessReport, Invocation};

/// A handler that GETs a key over a Redis connection opened at the first
/// invocation and kept across invocations, as a global would be.
pub struct CachedRedis {
    /// The redis crate's response timeout (`None`: wait for the kernel).
    pub response_timeout: Option<Duration>,
}

impl Function for CachedRedis {
    type State = MultiplexedConnection;

    async fn init(&self, _: &Invocation) -> Result<MultiplexedConnection, BoxError> {
        let stream = thaw_harness::net::TcpStream::connect("upstash:6379").await?;
        let config = AsyncConnectionConfig::new().set_response_timeout(self.response_timeout);
        let (conn, driver) =
            MultiplexedConnection::new_with_config(&RedisConnectionInfo::default(), stream, config)
                .await?;
        tokio::spawn(driver);
        Ok(conn)
    }

    async fn handle(
        &self,
        conn: &mut MultiplexedConnection,
        _: &Invocation,
    ) -> Result<(), BoxError> {
        let _: Option<String> = redis::cmd("GET").arg("foo").query_async(conn).await?;
        Ok(())
    }
}

fn scenario() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../sim-scenarios/seeds/upstash-etimedout.toml")
}

fn print(title: &str, r: &HarnessReport) {
    println!("{title}");
    for o in &r.report.result.outcomes {
        let code = r.code(o.id);
        let seen = match code.and_then(|c| c.error.as_deref()) {
            Some(e) => format!(
                "fails: {e} (io::ErrorKind {:?}, errno {})",
                code.and_then(|c| c.io_kind),
                code.and_then(|c| c.errno)
                    .map_or("-".to_string(), |n| n.to_string())
            ),
            None => "ok".to_string(),
        };
        let ended = code.map_or(o.at + o.latency, |c| c.at);
        println!(
            "  invocation {}: arrives {:>12}  env-{} {:<5} ends {:>14}  {} → thaw says {}",
            o.id,
            o.at.to_string(),
            o.container,
            if o.cold { "cold" } else { "warm" },
            ended.to_string(),
            seen,
            o.error.map_or("ok".to_string(), |k| k.to_string()),
        );
    }
}

pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = scenario();
    let kernel = Harness::from_scenario(
        &path,
        &[],
        CachedRedis {
            response_timeout: None,
        },
    )?
    .run()?;
    print(
        "redis crate, response timeout off (the kernel decides):",
        &kernel,
    );
    if std::env::args().any(|a| a == "--timeline") {
        print!("{}", kernel.timeline());
    }

    // The same file through thaw's model client.
    let text = std::fs::read_to_string(&path)?;
    let model =
        thaw_scenario::load(&path.display().to_string(), &text, &[]).map_err(|e| e.render())?;
    let m = thaw_sim::run(&model.config, &mut thaw_core::NullSink, true)?;
    let inv2 = &m.outcomes[1];
    let code2 = kernel.code(2).expect("invocation 2 ran");
    println!(
        "  thaw run: invocation 2 fails with {} at {}; the redis crate saw errno {:?} at {} — {}",
        inv2.error.map_or("nothing".into(), |k| k.to_string()),
        inv2.at + inv2.latency,
        code2.errno,
        code2.at,
        if inv2.at + inv2.latency == code2.at {
            "the same instant"
        } else {
            "DIFFERENT"
        }
    );

    let default = Harness::from_scenario(
        &path,
        &[],
        CachedRedis {
            response_timeout: Some(Duration::from_millis(500)),
        },
    )?
    .run()?;
    print(
        "\nredis crate with its default response timeout (500 ms):",
        &default,
    );

    let fixed = Harness::from_scenario(
        &path,
        &["server.idle_timeout=310s"],
        CachedRedis {
            response_timeout: None,
        },
    )?
    .run()?;
    print("\nwith server.idle_timeout = 310s:", &fixed);
    Ok(())
}
