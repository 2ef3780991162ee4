//! A real bb8 pool of Redis connections across a freeze: the pool's
//! reaper is a tokio interval, so it cannot run while the environment is
//! frozen and its overdue tick runs at the thaw; the checkout ping
//! (bb8's `test_on_check_out`, on by default) catches the connection
//! Redis closed meanwhile.
//!
//!     cargo run --release -p thaw-harness --example bb8_reaper
//!
//! What it also shows: bb8 0.9 measures idle time with
//! `std::time::Instant`, the host's clock. Under the harness (or any
//! paused tokio clock) that clock barely moves, so the reaper's late tick
//! never finds the connection idle for its `idle_timeout`, even after 60
//! simulated seconds: the statistics below count 0 idle-timeout closes.
//! The harness cannot move `std::time::Instant`; it reports the count so
//! that the difference is visible.
use bb8::{ManageConnection, Pool};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisConnectionInfo, RedisError};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use thaw_harness::{BoxError, Function, Harness, HarnessReport, Invocation};

/// bb8's manager for Redis connections over thaw's network.
pub struct RedisManager;

impl ManageConnection for RedisManager {
    type Connection = MultiplexedConnection;
    type Error = RedisError;

    async fn connect(&self) -> Result<MultiplexedConnection, RedisError> {
        let stream = thaw_harness::net::TcpStream::connect("redis:6379").await?;
        let config = AsyncConnectionConfig::new().set_response_timeout(None);
        let (conn, driver) =
            MultiplexedConnection::new_with_config(&RedisConnectionInfo::default(), stream, config)
                .await?;
        tokio::spawn(driver);
        Ok(conn)
    }

    async fn is_valid(&self, conn: &mut MultiplexedConnection) -> Result<(), RedisError> {
        redis::cmd("PING").query_async(conn).await
    }

    fn has_broken(&self, _: &mut MultiplexedConnection) -> bool {
        false
    }
}

/// A handler with a bb8 pool built at the environment's first invocation.
pub struct Pooled {
    /// bb8's `test_on_check_out`.
    pub test_on_check_out: bool,
    /// Idle-timeout closes seen by the pools, summed after each invocation.
    pub idle_closes: Arc<AtomicU64>,
}

impl Function for Pooled {
    type State = Pool<RedisManager>;

    async fn init(&self, _: &Invocation) -> Result<Pool<RedisManager>, BoxError> {
        Ok(Pool::builder()
            .max_size(1)
            .idle_timeout(Some(Duration::from_secs(10)))
            .reaper_rate(Duration::from_secs(5))
            .test_on_check_out(self.test_on_check_out)
            .build(RedisManager)
            .await?)
    }

    async fn handle(&self, pool: &mut Pool<RedisManager>, _: &Invocation) -> Result<(), BoxError> {
        let r = async {
            let mut conn = pool.get().await?;
            let _: Option<String> = redis::cmd("GET").arg("foo").query_async(&mut *conn).await?;
            Ok::<(), BoxError>(())
        }
        .await;
        self.idle_closes.store(
            pool.state().statistics.connections_closed_idle_timeout,
            Ordering::SeqCst,
        );
        r
    }
}

fn print(title: &str, r: &HarnessReport, idle_closes: u64) {
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
    println!("  bb8 idle-timeout closes after 60 simulated seconds idle: {idle_closes}");
}

pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../sim-scenarios/examples/bb8-redis-idle-thaw.toml");
    for (title, check, sets) in [
        ("bb8 defaults (ping on checkout):", true, vec![]),
        (
            "\nbb8 with test_on_check_out(false):",
            false,
            vec!["client.pool.validation=none"],
        ),
    ] {
        let idle_closes = Arc::new(AtomicU64::new(0));
        let r = Harness::from_scenario(
            &path,
            &sets,
            Pooled {
                test_on_check_out: check,
                idle_closes: idle_closes.clone(),
            },
        )?
        .run()?;
        print(title, &r, idle_closes.load(Ordering::SeqCst));
        let text = std::fs::read_to_string(&path)?;
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        let model = thaw_scenario::load(&path.display().to_string(), &text, &sets)
            .map_err(|e| e.render())?;
        let m = thaw_sim::run(&model.config, &mut thaw_core::NullSink, true)?;
        let o = &m.outcomes[1];
        println!(
            "  thaw run (model bb8 pool): invocation 2 {} at {}",
            o.error.map_or("ok".into(), |k| k.to_string()),
            o.at + o.latency
        );
        if std::env::args().any(|a| a == "--timeline") {
            print!("{}", r.timeline());
        }
    }
    Ok(())
}
