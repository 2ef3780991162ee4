//! Every preset matches its library's defaults (docs/model.md 11.3, docs/sources.md).
use super::d;
use crate::{
    ConfigError, Evictor, IdleOrder, MinScope, OnLost, OnOpenFailure, PoolConfig, RetryOnBadConn,
    ServerlessMysql, Validation,
};
use thaw_core::SimDuration;

fn msd(x: u64) -> SimDuration {
    SimDuration::from_millis(x)
}

#[test]
fn sequelize_v6_defaults() {
    let c = PoolConfig::sequelize();
    assert_eq!((c.max, c.min), (5, 0));
    assert_eq!(c.idle_timeout, Some(msd(10_000)));
    assert_eq!(c.acquire_timeout, Some(msd(60_000)));
    assert_eq!(c.evictor, Evictor::ReArmed(msd(1000)));
    assert_eq!(c.order, IdleOrder::Lifo);
    assert_eq!(c.validation, Validation::Flag);
    assert_eq!(c.on_lost, OnLost::Mark);
    assert_eq!(c.max_uses, None);
    assert_eq!(c.max_lifetime, None);
    assert!(!c.keepalive);
}

#[test]
fn sequelize_lambda_guide_values() {
    let c = PoolConfig::sequelize_lambda_guide(d(30));
    assert_eq!((c.max, c.min), (2, 0));
    assert_eq!(c.idle_timeout, Some(SimDuration::ZERO));
    assert_eq!(c.acquire_timeout, Some(msd(3000)));
    assert_eq!(c.evictor, Evictor::ReArmed(d(30)));
    assert_eq!(c.validation, Validation::Flag);
    assert_eq!(c.order, IdleOrder::Lifo);
}

#[test]
fn pg_pool_defaults() {
    let c = PoolConfig::pg_pool();
    assert_eq!((c.max, c.min), (10, 0));
    assert_eq!(c.idle_timeout, Some(msd(10_000)));
    assert_eq!(c.evictor, Evictor::PerConnection);
    assert_eq!(
        c.acquire_timeout, None,
        "connectionTimeoutMillis 0 = forever"
    );
    assert_eq!(c.validation, Validation::None);
    assert_eq!(c.on_lost, OnLost::Remove);
    assert_eq!(c.order, IdleOrder::Lifo);
    assert_eq!((c.max_uses, c.max_lifetime), (None, None));
    assert!(!c.keepalive);
}

#[test]
fn mysql2_defaults_have_no_reaper() {
    let c = PoolConfig::mysql2();
    assert_eq!(c.max, 10);
    assert_eq!(c.min, 10, "maxIdle = connectionLimit");
    assert_eq!(c.min_scope, MinScope::Idle);
    assert_eq!(c.idle_timeout, Some(msd(60_000)));
    assert_eq!(c.evictor, Evictor::None);
    assert_eq!(c.acquire_timeout, None);
    assert_eq!(c.validation, Validation::None);
    assert_eq!(c.order, IdleOrder::Lifo);
    assert!(c.keepalive, "enableKeepAlive: true");
    let r = PoolConfig::mysql2_with(10, 2);
    assert_eq!(r.evictor, Evictor::ReArmed(msd(1000)));
    assert_eq!(r.min, 2);
}

#[test]
fn go_database_sql_defaults() {
    let c = PoolConfig::go_database_sql();
    assert_eq!(c.max, u32::MAX, "MaxOpenConns 0 = unlimited");
    assert_eq!(c.max_idle, Some(2), "defaultMaxIdleConns");
    assert_eq!(c.idle_timeout, None);
    assert_eq!(c.max_lifetime, None);
    assert_eq!(c.evictor, Evictor::None);
    assert_eq!(c.acquire_timeout, None);
    assert_eq!(c.order, IdleOrder::Lifo);
    assert_eq!(c.validation, Validation::LivenessPeek);
    assert_eq!(c.retry_on_bad_conn, Some(RetryOnBadConn { attempts: 3 }));
}

#[test]
fn sqlalchemy_queuepool_defaults() {
    let c = PoolConfig::sqlalchemy();
    assert_eq!(c.max, 15, "pool_size 5 + max_overflow 10");
    assert_eq!(c.max_idle, Some(5));
    assert_eq!(c.acquire_timeout, Some(d(30)));
    assert_eq!(c.max_lifetime, None, "pool_recycle -1");
    assert_eq!(c.validation, Validation::None, "pool_pre_ping False");
    assert_eq!(c.order, IdleOrder::Fifo);
}

#[test]
fn hikaricp_defaults() {
    let c = PoolConfig::hikaricp();
    assert_eq!((c.max, c.min), (10, 10));
    assert!(c.fill_to_min);
    assert_eq!(c.min_scope, MinScope::Idle);
    assert_eq!(c.idle_timeout, Some(msd(600_000)));
    assert_eq!(c.max_lifetime, Some(msd(1_800_000)));
    assert!(c.lifetime_timer);
    assert_eq!(c.acquire_timeout, Some(msd(30_000)));
    assert_eq!(c.evictor, Evictor::FixedInterval(d(30)));
    assert_eq!(c.validation, Validation::Ping);
    assert_eq!(c.alive_bypass, msd(500));
    assert!(matches!(c.on_open_failure, OnOpenFailure::Retry { .. }));
}

#[test]
fn serverless_mysql_defaults() {
    let s = ServerlessMysql::default();
    assert_eq!(s.conn_utilization_permille, 800);
    assert_eq!(s.zombie_min_timeout, d(3));
    assert_eq!(s.zombie_max_timeout, d(900));
    assert_eq!(s.max_conns_freq, msd(15_000));
    assert_eq!(s.used_conns_freq, SimDuration::ZERO);
    assert_eq!(s.max_retries, 50);
    assert_eq!((s.backoff.base, s.backoff.cap), (msd(2), msd(100)));
    assert_eq!(s.max_query_retries, 0);
    // fullJitter bound = min(cap, base·2^retries)
    assert_eq!(s.backoff.bound(0), msd(2));
    assert_eq!(s.backoff.bound(5), msd(64));
    assert_eq!(s.backoff.bound(6), msd(100));
    assert_eq!(s.backoff.bound(200), msd(100));
    // zombie cleanup thresholds
    assert_eq!(s.zombie_kill_threshold(81, 100, d(1)), Some(d(3)));
    assert_eq!(s.zombie_kill_threshold(90, 100, d(60)), Some(d(60)));
    assert_eq!(s.zombie_kill_threshold(90, 100, d(5000)), Some(d(900)));
    assert_eq!(s.zombie_kill_threshold(80, 100, d(60)), None);
    assert_eq!(s.zombie_kill_threshold(10, 100, d(901)), Some(d(900)));
    let p = PoolConfig::serverless_mysql();
    assert_eq!(p.max, 1);
    assert_eq!(p.acquire_timeout, None);
    assert!(p.keepalive);
}

#[test]
fn sqlx_defaults() {
    let c = PoolConfig::sqlx();
    assert_eq!((c.max, c.min), (10, 0));
    assert_eq!(c.idle_timeout, Some(d(600)));
    assert_eq!(c.max_lifetime, Some(d(1800)));
    assert_eq!(c.acquire_timeout, Some(d(30)));
    assert_eq!(c.validation, Validation::Ping);
    assert_eq!(c.order, IdleOrder::Fifo);
    assert_eq!(
        c.evictor,
        Evictor::FixedInterval(d(600)),
        "min(lifetime, idle)"
    );
}

#[test]
fn bb8_defaults() {
    let c = PoolConfig::bb8();
    assert_eq!((c.max, c.min), (10, 0));
    assert_eq!(c.idle_timeout, Some(d(600)));
    assert_eq!(c.max_lifetime, Some(d(1800)));
    assert_eq!(c.acquire_timeout, Some(d(30)));
    assert_eq!(c.validation, Validation::Ping);
    assert_eq!(c.evictor, Evictor::FixedInterval(d(30)));
    assert_eq!(c.order, IdleOrder::Fifo);
}

#[test]
fn every_preset_is_valid() {
    for c in [
        PoolConfig::sequelize(),
        PoolConfig::sequelize_lambda_guide(d(3)),
        PoolConfig::pg_pool(),
        PoolConfig::mysql2(),
        PoolConfig::mysql2_with(4, 1),
        PoolConfig::go_database_sql(),
        PoolConfig::sqlalchemy(),
        PoolConfig::hikaricp(),
        PoolConfig::serverless_mysql(),
        PoolConfig::sqlx(),
        PoolConfig::bb8(),
    ] {
        assert_eq!(c.check(), Ok(()), "{c:?}");
    }
}

#[test]
fn bad_configs_are_rejected() {
    let base = PoolConfig::sequelize();
    let cases = [
        (PoolConfig { max: 0, ..base }, ConfigError::ZeroMax),
        (PoolConfig { min: 6, ..base }, ConfigError::MinAboveMax),
        (
            PoolConfig {
                evictor: Evictor::ReArmed(SimDuration::ZERO),
                ..base
            },
            ConfigError::ZeroEvictorPeriod,
        ),
        (
            PoolConfig {
                validation: Validation::None,
                ..base
            },
            ConfigError::UncheckedMark,
        ),
        (
            PoolConfig {
                retry_on_bad_conn: Some(RetryOnBadConn { attempts: 0 }),
                ..base
            },
            ConfigError::ZeroAttempts,
        ),
        (
            PoolConfig {
                on_open_failure: OnOpenFailure::Retry {
                    delay: SimDuration::ZERO,
                },
                ..base
            },
            ConfigError::ZeroRetryDelay,
        ),
        (
            PoolConfig {
                max_uses: Some(0),
                ..base
            },
            ConfigError::ZeroMaxUses,
        ),
    ];
    for (cfg, err) in cases {
        assert_eq!(cfg.check(), Err(err));
        assert!(!err.to_string().is_empty());
    }
}
