//! The library model driven by hand: no sockets, no world.
use super::*;

fn ms(n: u64) -> SimDuration {
    SimDuration::from_millis(n)
}

fn at(n: u64) -> SimTime {
    SimTime::ZERO + ms(n)
}

/// ioredis 5.11.1 as the preset builds it.
fn ioredis() -> LibConfig {
    LibConfig {
        reconnect: Reconnect::Backoff(Backoff::Linear {
            step: ms(50),
            max: ms(2000),
        }),
        offline_queue: true,
        in_flight: InFlight::Resend,
        max_retries_per_request: Some(20),
        max_attempts: None,
        connect_timeout: Some(ms(10_000)),
        command_timeout: None,
        ping_interval: None,
        ping_timeout: None,
        idle_check: IdleCheck::None,
        idle_close: None,
        multiplexed: false,
        hint: HintRule::Ignore,
        timeout_closes: false,
        reads_while_idle: true,
    }
}

fn pg_client() -> LibConfig {
    LibConfig {
        reconnect: Reconnect::Never,
        in_flight: InFlight::Reject,
        ..LibConfig::plain()
    }
}

/// Runs one input and returns its actions.
fn step(f: impl FnOnce(&mut Vec<LibAction>)) -> Vec<LibAction> {
    let mut out = Vec::new();
    f(&mut out);
    out
}

/// A library with a ready connection and no command.
fn ready(cfg: LibConfig) -> Library {
    let mut l = Library::new(cfg);
    let out = step(|o| l.command(at(0), o));
    assert!(out.contains(&LibAction::Connect));
    let out = step(|o| l.connected(at(10), o));
    assert!(out.contains(&LibAction::Send));
    assert_eq!(l.reply(at(11), &mut Vec::new()), Reply::Command);
    assert_eq!(l.link(), Link::Ready);
    assert!(!l.busy());
    l
}

fn armed(out: &[LibAction]) -> Vec<(LibTimer, SimTime)> {
    out.iter()
        .filter_map(|a| match a {
            LibAction::Arm { timer, at } => Some((*timer, *at)),
            _ => None,
        })
        .collect()
}

fn failed(out: &[LibAction]) -> Option<LibError> {
    out.iter().find_map(|a| match a {
        LibAction::Fail(e) => Some(*e),
        _ => None,
    })
}

#[test]
fn backoff_formulas_follow_the_libraries() {
    // ioredis 5: Math.min(times * 50, 2000).
    let b = Backoff::Linear {
        step: ms(50),
        max: ms(2000),
    };
    assert_eq!(b.delay(1, 0), ms(50));
    assert_eq!(b.delay(20, 0), ms(1000));
    assert_eq!(b.delay(41, 0), ms(2000));
    // node-redis 4: at once, then Math.min(retries * 50, 500) from 0.
    let b = Backoff::ImmediateThenLinear {
        step: ms(50),
        max: ms(500),
    };
    assert_eq!(
        (1..=4).map(|n| b.delay(n, 0)).collect::<Vec<_>>(),
        vec![ms(0), ms(0), ms(50), ms(100)]
    );
    assert_eq!(b.delay(100, 0), ms(500));
    // ioredis 6: 2^(n-1)·50 capped at 5000, plus 0..199 ms.
    let b = Backoff::Exponential {
        base: ms(50),
        max: ms(5000),
        jitter: Jitter::Add(ms(200)),
        immediate_first: false,
    };
    assert_eq!(b.delay(1, 0), ms(50));
    assert_eq!(b.delay(4, 0), ms(400));
    assert_eq!(b.delay(30, 0), ms(5000));
    let d = b.delay(1, u64::MAX);
    assert!(d >= ms(50) && d < ms(250), "{d}");
}

#[test]
fn a_zero_backoff_is_refused_and_a_lone_ping_timeout_is_inert() {
    let zero = LibConfig {
        reconnect: Reconnect::Backoff(Backoff::Linear {
            step: ms(0),
            max: ms(0),
        }),
        ..ioredis()
    };
    assert_eq!(zero.check(), Err(LibConfigError::ZeroBackoff));
    let lone = LibConfig {
        ping_timeout: Some(ms(20_000)),
        ..ioredis()
    };
    assert_eq!(lone.check(), Ok(()));
    let mut l = Library::new(lone);
    let mut out = Vec::new();
    l.command(SimTime::ZERO, &mut out);
    l.connected(SimTime::ZERO, &mut out);
    l.reply(SimTime::ZERO, &mut out);
    assert!(
        !out.iter().any(|a| matches!(
            a,
            LibAction::Ping
                | LibAction::Arm {
                    timer: LibTimer::PingDue(_) | LibTimer::PingTimeout(_),
                    ..
                }
        )),
        "{out:?}"
    );
    let resend = LibConfig {
        in_flight: InFlight::Resend,
        ..pg_client()
    };
    assert_eq!(resend.check(), Err(LibConfigError::ResendWithoutReconnect));
    assert_eq!(ioredis().check(), Ok(()));
}

#[test]
fn a_client_that_never_reconnects_is_finished_after_a_loss() {
    // pg.Client: the server closed it while idle; every later query fails.
    let mut l = ready(pg_client());
    let out = step(|o| l.lost(at(100), Loss::Eof, 0, o));
    assert!(out.contains(&LibAction::Note(LibNote::Finished)));
    assert_eq!(l.link(), Link::Dead);
    let out = step(|o| l.command(at(200), o));
    assert_eq!(failed(&out), Some(LibError::Closed));
    assert!(!out.contains(&LibAction::Connect));
}

#[test]
fn a_rejected_command_in_flight_fails_with_the_loss() {
    let mut l = ready(pg_client());
    step(|o| l.command(at(100), o));
    assert!(l.sent());
    let out = step(|o| l.lost(at(101), Loss::Eof, 0, o));
    assert_eq!(failed(&out), Some(LibError::Lost(Loss::Eof)));
    assert!(!l.busy());
}

#[test]
fn on_next_use_reconnects_when_the_next_command_comes() {
    let mut l = ready(LibConfig::plain());
    let out = step(|o| l.lost(at(100), Loss::Eof, 0, o));
    assert!(
        !out.contains(&LibAction::Connect),
        "nothing until a command"
    );
    assert_eq!(l.link(), Link::Down);
    let out = step(|o| l.command(at(500), o));
    assert_eq!(out, vec![LibAction::Connect]);
    let out = step(|o| l.connected(at(510), o));
    assert_eq!(out, vec![LibAction::Send]);
}

#[test]
fn ioredis_resends_the_command_in_flight_after_the_reconnect() {
    let mut l = ready(ioredis());
    step(|o| l.command(at(100), o));
    let out = step(|o| l.lost(at(101), Loss::Reset, 0, o));
    assert_eq!(failed(&out), None, "not rejected");
    assert!(out.contains(&LibAction::Note(LibNote::WillResend)));
    assert!(out.contains(&LibAction::Note(LibNote::ReconnectIn {
        attempt: 1,
        delay: ms(50)
    })));
    let (timer, due) = armed(&out)[0];
    assert_eq!(due, at(151));
    let out = step(|o| l.timer(at(151), timer, due, 0, o));
    assert!(out.contains(&LibAction::Connect));
    let out = step(|o| l.connected(at(160), o));
    assert!(out.contains(&LibAction::Send), "written again: {out:?}");
    assert_eq!(l.reply(at(161), &mut Vec::new()), Reply::Command);
}

#[test]
fn node_redis_rejects_the_command_in_flight_and_reconnects_at_once() {
    let cfg = LibConfig {
        reconnect: Reconnect::Backoff(Backoff::ImmediateThenLinear {
            step: ms(50),
            max: ms(500),
        }),
        in_flight: InFlight::Reject,
        ..ioredis()
    };
    let mut l = ready(cfg);
    step(|o| l.command(at(100), o));
    let out = step(|o| l.lost(at(101), Loss::Eof, 0, o));
    assert_eq!(failed(&out), Some(LibError::Lost(Loss::Eof)));
    assert_eq!(
        armed(&out),
        vec![(LibTimer::Reconnect(l.reconnect_gen), at(101))]
    );
}

#[test]
fn without_an_offline_queue_a_command_during_a_reconnect_fails() {
    let cfg = LibConfig {
        offline_queue: false,
        ..ioredis()
    };
    let mut l = ready(cfg);
    step(|o| l.lost(at(100), Loss::Eof, 0, o));
    let out = step(|o| l.command(at(120), o));
    assert_eq!(failed(&out), Some(LibError::Offline));
}

#[test]
fn ioredis_flushes_a_waiting_command_at_the_21st_close_and_goes_on() {
    let mut l = ready(ioredis());
    step(|o| l.command(at(100), o));
    let mut out = step(|o| l.lost(at(101), Loss::Reset, 0, o));
    let mut now = 101;
    let mut closes = 1;
    loop {
        if let Some(e) = failed(&out) {
            assert_eq!(e, LibError::MaxRetries(20));
            break;
        }
        let (timer, due) = *armed(&out).last().expect("a reconnect is armed");
        now = now.max((due - SimTime::ZERO).as_nanos() / 1_000_000);
        let o2 = step(|o| l.timer(at(now), timer, due, 0, o));
        assert!(o2.contains(&LibAction::Connect));
        out = step(|o| l.connect_failed(at(now), Loss::Reset, 0, o));
        closes += 1;
        assert!(closes <= 21, "never flushed");
    }
    assert_eq!(closes, 21, "retryAttempts % 21 == 0");
    // The reconnects go on.
    assert!(matches!(l.link(), Link::Waiting(_)));
}

#[test]
fn max_attempts_finishes_the_client() {
    let cfg = LibConfig {
        max_attempts: Some(2),
        max_retries_per_request: None,
        ..ioredis()
    };
    let mut l = ready(cfg);
    step(|o| l.command(at(100), o));
    let out = step(|o| l.lost(at(100), Loss::Reset, 0, o));
    let (t, due) = armed(&out)[0];
    step(|o| l.timer(at(150), t, due, 0, o));
    let out = step(|o| l.connect_failed(at(150), Loss::Reset, 0, o));
    let (t, due) = armed(&out)[0];
    step(|o| l.timer(at(250), t, due, 0, o));
    let out = step(|o| l.connect_failed(at(250), Loss::Reset, 0, o));
    assert_eq!(failed(&out), Some(LibError::Closed));
    assert_eq!(l.link(), Link::Dead);
}

#[test]
fn a_command_timeout_fails_the_command_and_its_late_reply_is_dropped() {
    let cfg = LibConfig {
        command_timeout: Some(ms(500)),
        ..ioredis()
    };
    let mut l = ready(cfg);
    let out = step(|o| l.command(at(100), o));
    let (t, due) = armed(&out)[0];
    assert_eq!(due, at(600));
    let out = step(|o| l.timer(at(600), t, due, 0, o));
    assert_eq!(failed(&out), Some(LibError::Timeout));
    assert_eq!(l.link(), Link::Ready, "the connection is kept");
    // The next command's reply comes after the old one's.
    step(|o| l.command(at(700), o));
    assert_eq!(l.reply(at(701), &mut Vec::new()), Reply::Discarded);
    assert!(l.busy());
    assert_eq!(l.reply(at(702), &mut Vec::new()), Reply::Command);
}

#[test]
fn a_command_timeout_covers_the_wait_in_the_offline_queue() {
    let cfg = LibConfig {
        command_timeout: Some(ms(30)),
        ..ioredis()
    };
    let mut l = ready(cfg);
    let out = step(|o| l.lost(at(100), Loss::Eof, 0, o));
    let (rt, rdue) = armed(&out)[0];
    let out = step(|o| l.command(at(110), o));
    let (ct, cdue) = armed(&out)[0];
    assert_eq!(cdue, at(140));
    let out = step(|o| l.timer(at(140), ct, cdue, 0, o));
    assert_eq!(failed(&out), Some(LibError::Timeout));
    // The reconnect still happens, with nothing to send.
    step(|o| l.timer(at(150), rt, rdue, 0, o));
    let out = step(|o| l.connected(at(160), o));
    assert!(!out.contains(&LibAction::Send));
}

#[test]
fn a_heartbeat_ping_out_before_a_freeze_times_out_on_thaw() {
    // gRPC-style keepalive: a ping every 10 s, 20 s to answer.
    let cfg = LibConfig {
        ping_interval: Some(ms(10_000)),
        ping_timeout: Some(ms(20_000)),
        ..ioredis()
    };
    let mut l = Library::new(cfg);
    step(|o| l.command(at(0), o));
    step(|o| l.connected(at(10), o));
    let mut out = Vec::new();
    assert_eq!(l.reply(at(11), &mut out), Reply::Command);
    // The reply armed the first heartbeat.
    let (pt, pdue) = armed(&out)[0];
    assert_eq!(pdue, at(10_011));
    let out = step(|o| l.timer(at(10_011), pt, pdue, 0, o));
    assert!(out.contains(&LibAction::Ping));
    let (tt, tdue) = armed(&out)[0];
    assert_eq!(tdue, at(30_011));
    // Frozen from 10.012 s to 400 s: the reply waits in the socket, the
    // timer is delivered overdue at the thaw, before the application
    // reads.
    let out = step(|o| l.timer(at(400_000), tt, tdue, 7, o));
    assert!(out.contains(&LibAction::Note(LibNote::Late {
        timer: tt,
        by: ms(369_989)
    })));
    assert!(out.contains(&LibAction::Close(CloseWhy::PingTimeout)));
    assert!(matches!(l.link(), Link::Waiting(1)));
    // The reply read afterwards answers nothing.
    assert_eq!(l.reply(at(400_000), &mut Vec::new()), Reply::Unexpected);
}

#[test]
fn a_heartbeat_is_not_sent_while_a_command_is_out() {
    let cfg = LibConfig {
        ping_interval: Some(ms(1000)),
        ..ioredis()
    };
    let mut l = ready(cfg);
    let mut out = Vec::new();
    l.arm_ping(at(11), &mut out);
    let (pt, pdue) = armed(&out)[0];
    step(|o| l.command(at(500), o));
    let out = step(|o| l.timer(at(1011), pt, pdue, 0, o));
    assert!(!out.contains(&LibAction::Ping));
    let mut out = Vec::new();
    l.reply(at(1100), &mut out);
    assert_eq!(armed(&out).len(), 1, "the next heartbeat after the reply");
}

#[test]
fn redis_py_pings_before_a_command_on_a_connection_idle_too_long() {
    let cfg = LibConfig {
        idle_check: IdleCheck::Ping { after: ms(1000) },
        ..LibConfig::plain()
    };
    let mut l = ready(cfg);
    // Idle 500 ms: written at once.
    let out = step(|o| l.command(at(511), o));
    assert_eq!(out, vec![LibAction::Send]);
    l.reply(at(512), &mut Vec::new());
    // Idle 5 s: a PING first; the command follows its reply.
    let out = step(|o| l.command(at(5512), o));
    assert_eq!(out, vec![LibAction::Ping]);
    let mut out = Vec::new();
    assert_eq!(l.reply(at(5513), &mut out), Reply::Ping);
    assert_eq!(out, vec![LibAction::Send]);
    // The ping finds the connection dead: the command goes out on a new one.
    l.reply(at(5514), &mut Vec::new());
    step(|o| l.command(at(99_999), o));
    let out = step(|o| l.lost(at(100_000), Loss::Eof, 0, o));
    assert_eq!(failed(&out), None);
    assert_eq!(out, vec![LibAction::Connect]);
}

#[test]
fn go_redis_peeks_and_discards_a_stale_connection() {
    let cfg = LibConfig {
        idle_check: IdleCheck::Peek {
            max_idle: Some(ms(1_800_000)),
        },
        ..LibConfig::plain()
    };
    let mut l = ready(cfg);
    assert_eq!(step(|o| l.command(at(20), o)), vec![LibAction::Peek]);
    assert_eq!(step(|o| l.peeked(at(20), true, o)), vec![LibAction::Send]);
    l.reply(at(21), &mut Vec::new());
    // The FIN is in the socket: the peek sees EOF.
    step(|o| l.command(at(100), o));
    let out = step(|o| l.peeked(at(100), false, o));
    assert_eq!(
        out,
        vec![LibAction::Close(CloseWhy::CheckFailed), LibAction::Connect]
    );
    step(|o| l.connected(at(110), o));
    l.reply(at(111), &mut Vec::new());
    // Idle 30 min or more: closed without looking.
    let out = step(|o| l.command(at(111 + 1_800_000), o));
    assert_eq!(
        out,
        vec![LibAction::Close(CloseWhy::Stale), LibAction::Connect]
    );
}

#[test]
fn the_connect_timeout_closes_and_follows_the_reconnect_policy() {
    let mut l = Library::new(ioredis());
    let out = step(|o| l.command(at(0), o));
    let (t, due) = armed(&out)[0];
    assert_eq!(due, at(10_000));
    let out = step(|o| l.timer(at(10_000), t, due, 0, o));
    assert_eq!(out[0], LibAction::Close(CloseWhy::ConnectTimeout));
    assert!(matches!(l.link(), Link::Waiting(1)));
    assert!(l.busy(), "the command waits in the offline queue");
    let cfg = LibConfig {
        connect_timeout: Some(ms(100)),
        ..pg_client()
    };
    let mut l = Library::new(cfg);
    let out = step(|o| l.command(at(0), o));
    let (t, due) = armed(&out)[0];
    let out = step(|o| l.timer(at(100), t, due, 0, o));
    assert_eq!(failed(&out), Some(LibError::ConnectTimeout));
}

#[test]
fn a_stale_timer_does_nothing() {
    let cfg = LibConfig {
        command_timeout: Some(ms(500)),
        ..ioredis()
    };
    let mut l = ready(cfg);
    let out = step(|o| l.command(at(100), o));
    let (t, due) = armed(&out)[0];
    l.reply(at(120), &mut Vec::new());
    let out = step(|o| l.timer(at(600), t, due, 0, o));
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn node_redis_5_reconnects_at_once_then_doubles() {
    let b = Backoff::Exponential {
        base: ms(50),
        max: ms(2000),
        jitter: Jitter::None,
        immediate_first: true,
    };
    assert_eq!(
        (1..=4).map(|n| b.delay(n, 0)).collect::<Vec<_>>(),
        vec![ms(0), ms(50), ms(100), ms(200)]
    );
    assert_eq!(b.delay(20, 0), ms(2000));
}

/// go-redis: `MaxRetries` 3 with `RetryBackoff` between 8 ms and 512 ms.
fn go_redis() -> LibConfig {
    LibConfig {
        in_flight: InFlight::Retry {
            max: 3,
            backoff: Backoff::BasePlusJitter {
                base: ms(8),
                max: ms(512),
            },
            on: LossSet::ALL,
        },
        ..LibConfig::plain()
    }
}

#[test]
fn go_redis_retries_a_lost_command_three_times_then_fails() {
    let b = Backoff::BasePlusJitter {
        base: ms(8),
        max: ms(512),
    };
    assert_eq!(b.delay(1, 0), ms(8));
    assert_eq!(
        b.delay(2, 15_999_999),
        ms(8) + SimDuration::from_nanos(15_999_999)
    );
    assert_eq!(b.delay(10, u64::MAX / 2), ms(512));
    let mut l = ready(go_redis());
    step(|o| l.command(at(100), o));
    let mut now = 100;
    for retry in 1..=3 {
        let out = step(|o| l.lost(at(now), Loss::Eof, 0, o));
        assert_eq!(failed(&out), None, "retry {retry}");
        assert!(!out.contains(&LibAction::Connect), "not before the backoff");
        let (t, due) = armed(&out)[0];
        now += 8;
        assert_eq!(due, at(now));
        let out = step(|o| l.timer(at(now), t, due, 0, o));
        assert_eq!(out, vec![LibAction::Connect]);
        let out = step(|o| l.connected(at(now), o));
        assert_eq!(out, vec![LibAction::Send]);
    }
    let out = step(|o| l.lost(at(now), Loss::Eof, 0, o));
    assert_eq!(failed(&out), Some(LibError::Lost(Loss::Eof)));
    // The next command starts with its own retries.
    step(|o| l.command(at(1000), o));
    step(|o| l.connected(at(1001), o));
    let out = step(|o| l.lost(at(1002), Loss::Eof, 0, o));
    assert_eq!(failed(&out), None);
}

#[test]
fn a_failed_connect_uses_up_a_retry() {
    let mut l = ready(go_redis());
    step(|o| l.command(at(100), o));
    let out = step(|o| l.lost(at(100), Loss::Reset, 0, o));
    let (t, due) = armed(&out)[0];
    step(|o| l.timer(at(108), t, due, 0, o));
    let out = step(|o| l.connect_failed(at(109), Loss::Reset, 0, o));
    assert!(out.contains(&LibAction::Note(LibNote::RetryIn {
        retry: 2,
        delay: ms(8)
    })));
}

fn preset_cfg(name: &str) -> LibConfig {
    presets::preset(name).expect(name).config
}

fn closed(out: &[LibAction]) -> Option<CloseWhy> {
    out.iter().find_map(|a| match a {
        LibAction::Close(w) => Some(*w),
        _ => None,
    })
}

fn timer_of(out: &[LibAction], pick: fn(&LibTimer) -> bool) -> (LibTimer, SimTime) {
    armed(out)
        .into_iter()
        .find(|(t, _)| pick(t))
        .unwrap_or_else(|| panic!("no such timer in {out:?}"))
}

#[test]
fn an_idle_close_closes_quietly_and_the_next_command_reopens() {
    let mut l = Library::new(preset_cfg("node-http-agent"));
    step(|o| l.command(at(0), o));
    step(|o| l.connected(at(10), o));
    let out = step(|o| {
        l.reply(at(11), o);
    });
    let (t, due) = timer_of(&out, |t| matches!(t, LibTimer::Idle(_)));
    assert_eq!(
        due,
        at(5011),
        "Node's agent: timeout 5000 ms after the response"
    );
    let out = step(|o| l.timer(due, t, due, 0, o));
    assert_eq!(closed(&out), Some(CloseWhy::Idle));
    assert_eq!(failed(&out), None, "an idle close is no error");
    assert_eq!(l.link(), Link::Down);
    let out = step(|o| l.command(at(6000), o));
    assert!(out.contains(&LibAction::Connect));
}

#[test]
fn a_command_before_the_overdue_idle_timer_keeps_the_socket() {
    // The thaw: the handler takes the kept socket first; the idle timer,
    // overdue, then finds it busy and does nothing.
    let mut l = Library::new(preset_cfg("node-http-agent"));
    step(|o| l.command(at(0), o));
    step(|o| l.connected(at(10), o));
    let out = step(|o| {
        l.reply(at(11), o);
    });
    let (t, due) = timer_of(&out, |t| matches!(t, LibTimer::Idle(_)));
    let out = step(|o| l.command(at(30_000), o));
    assert_eq!(out, vec![LibAction::Send]);
    assert!(!l.is_current(t));
    let out = step(|o| l.timer(at(30_000), t, due, 0, o));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(l.link(), Link::Ready);
}

#[test]
fn agents_read_the_servers_keep_alive_hint_as_their_libraries_do() {
    let s = |n: u64| Some(ms(n * 1000));
    let node = preset_cfg("node-http-agent");
    assert_eq!(node.with_hint(s(5)).idle_close, s(4), "5 s − 1 s < 5 s");
    assert_eq!(node.with_hint(s(75)).idle_close, s(5), "only when shorter");
    assert_eq!(node.with_hint(None).idle_close, s(5));
    // The AWS SDK's agent has no timeout: the hint does not give it one.
    let aws = preset_cfg("aws-sdk-v3");
    assert_eq!(aws.with_hint(s(5)).idle_close, None);
    let undici = preset_cfg("undici");
    assert_eq!(undici.with_hint(None).idle_close, s(4));
    assert_eq!(undici.with_hint(s(5)).idle_close, s(3), "hint − 2 s");
    assert_eq!(
        undici.with_hint(s(75)).idle_close,
        s(73),
        "even when longer"
    );
    assert_eq!(undici.with_hint(s(3600)).idle_close, s(600), "capped");
    // Database clients ignore it.
    assert_eq!(preset_cfg("ioredis").with_hint(s(5)).idle_close, None);
}

#[test]
fn full_jitter_stays_below_its_cap() {
    let b = Backoff::FullJitter {
        base: ms(100),
        max: ms(20_000),
    };
    assert_eq!(b.delay(1, 0), ms(0));
    assert!(b.delay(1, u64::MAX) < ms(200));
    assert!(b.delay(3, u64::MAX) < ms(800));
    assert!(b.delay(30, u64::MAX) < ms(20_000));
    assert!(b.delay(30, 19_999_999_999) > ms(19_999));
}

#[test]
fn an_http2_call_does_not_wait_behind_a_ping_and_dies_with_its_transport() {
    // grpc-node #2664 in the model: a PING goes out, the freeze holds its
    // timeout, the thaw's call is written at once, then the overdue
    // timeout drops the transport and the call with it.
    let cfg = LibConfig {
        ping_interval: Some(ms(5000)),
        ping_timeout: Some(ms(1000)),
        ..preset_cfg("grpc-js")
    };
    let mut l = ready(cfg);
    let out = step(|o| {
        l.reply(at(11), o);
    });
    assert!(out.is_empty(), "the reply in `ready` armed the heartbeat");
    let mut l = Library::new(cfg);
    step(|o| l.command(at(0), o));
    step(|o| l.connected(at(10), o));
    let out = step(|o| {
        l.reply(at(11), o);
    });
    let (due_t, due) = timer_of(&out, |t| matches!(t, LibTimer::PingDue(_)));
    let out = step(|o| l.timer(due, due_t, due, 0, o));
    assert!(out.contains(&LibAction::Ping));
    let (to, to_due) = timer_of(&out, |t| matches!(t, LibTimer::PingTimeout(_)));
    // Frozen; the thaw at 60 s: the call first.
    let out = step(|o| l.command(at(60_000), o));
    assert_eq!(
        out,
        vec![LibAction::Send],
        "HTTP/2: not queued behind the PING"
    );
    let out = step(|o| l.timer(at(60_000), to, to_due, 0, o));
    assert!(out
        .iter()
        .any(|a| matches!(a, LibAction::Note(LibNote::Late { .. }))));
    assert_eq!(closed(&out), Some(CloseWhy::PingTimeout));
    assert_eq!(failed(&out), Some(LibError::Lost(Loss::PingTimeout)));
    // Over Redis the same command waits for the PING's reply instead.
    let mut r = Library::new(LibConfig {
        ping_interval: Some(ms(5000)),
        ping_timeout: Some(ms(1000)),
        ..LibConfig::plain()
    });
    step(|o| r.command(at(0), o));
    step(|o| r.connected(at(10), o));
    let out = step(|o| {
        r.reply(at(11), o);
    });
    let (t, d) = timer_of(&out, |t| matches!(t, LibTimer::PingDue(_)));
    step(|o| r.timer(d, t, d, 0, o));
    let out = step(|o| r.command(at(60_000), o));
    assert_eq!(out, vec![LibAction::Note(LibNote::Queued)]);
}

#[test]
fn go_redis_retries_eof_and_timeouts_but_not_resets() {
    let cfg = preset_cfg("go-redis");
    let mut l = ready(cfg);
    step(|o| l.command(at(100), o));
    assert_eq!(step(|o| l.peeked(at(100), true, o)), vec![LibAction::Send]);
    let out = step(|o| l.lost(at(101), Loss::Reset, 0, o));
    assert_eq!(failed(&out), Some(LibError::Lost(Loss::Reset)));
    let mut l = ready(cfg);
    step(|o| l.command(at(100), o));
    step(|o| l.peeked(at(100), true, o));
    let out = step(|o| l.lost(at(101), Loss::Eof, 0, o));
    assert_eq!(failed(&out), None);
    assert!(out
        .iter()
        .any(|a| matches!(a, LibAction::Note(LibNote::RetryIn { retry: 1, .. }))));
}

#[test]
fn go_redis_discards_a_timed_out_connection_and_retries() {
    let cfg = preset_cfg("go-redis");
    let mut l = ready(cfg);
    let out = step(|o| l.command(at(100), o));
    let (t, due) = timer_of(&out, |t| matches!(t, LibTimer::Command(_)));
    assert_eq!(due, at(3100), "ReadTimeout 3 s");
    // No peek result needed: the connection was just used.
    step(|o| l.peeked(at(100), true, o));
    let out = step(|o| l.timer(due, t, due, 0, o));
    assert_eq!(closed(&out), Some(CloseWhy::CommandTimeout));
    assert_eq!(failed(&out), None);
    assert_eq!(l.link(), Link::Down);
    let (r, rdue) = timer_of(&out, |t| matches!(t, LibTimer::Retry(_)));
    let out = step(|o| l.timer(rdue, r, rdue, 0, o));
    assert!(out.contains(&LibAction::Connect));
    // A library that keeps the connection fails with its timeout.
    let mut k = ready(LibConfig {
        command_timeout: Some(ms(500)),
        ..LibConfig::plain()
    });
    let out = step(|o| k.command(at(100), o));
    let (t, due) = timer_of(&out, |t| matches!(t, LibTimer::Command(_)));
    let out = step(|o| k.timer(due, t, due, 0, o));
    assert_eq!(failed(&out), Some(LibError::Timeout));
    assert_eq!(closed(&out), None);
    assert_eq!(k.link(), Link::Ready);
}

#[test]
fn max_idle_replaces_an_old_connection_without_looking() {
    let cfg = LibConfig {
        idle_check: IdleCheck::MaxIdle {
            max_idle: ms(240_000),
        },
        ..preset_cfg("grpc-js")
    };
    let mut l = ready(cfg);
    let out = step(|o| l.command(at(1000), o));
    assert_eq!(out, vec![LibAction::Send], "idle 989 ms: used as it is");
    step(|o| {
        l.reply(at(1001), o);
    });
    let out = step(|o| l.command(at(400_000), o));
    assert_eq!(closed(&out), Some(CloseWhy::Stale));
    assert!(out.contains(&LibAction::Connect));
}

#[test]
fn a_timeout_while_connecting_leaves_nothing_to_retry() {
    // Found by the model's property test: a failed connect after the
    // command already timed out must not schedule a retry of nothing.
    let cfg = LibConfig {
        command_timeout: Some(ms(100)),
        ..preset_cfg("go-redis")
    };
    let mut l = Library::new(cfg);
    let out = step(|o| l.command(at(0), o));
    let (t, due) = timer_of(&out, |t| matches!(t, LibTimer::Command(_)));
    let out = step(|o| l.timer(due, t, due, 0, o));
    assert_eq!(failed(&out), Some(LibError::Timeout));
    let out = step(|o| l.connect_failed(at(200), Loss::Reset, 0, o));
    assert!(out.is_empty(), "{out:?}");
    assert!(!l.busy());
}

#[test]
fn geometric_backoffs_follow_grpc_and_stackexchange_redis() {
    // gRPC connection backoff: 1 s × 1.6^(n−1), ±20 %, ≤ 120 s.
    let g = Backoff::Geometric {
        base: ms(1000),
        factor_permille: 1600,
        max: ms(120_000),
        spread: Spread::None,
        immediate_first: false,
    };
    assert_eq!(
        (1..=4).map(|n| g.delay(n, 0)).collect::<Vec<_>>(),
        vec![ms(1000), ms(1600), ms(2560), ms(4096)]
    );
    assert_eq!(g.delay(30, 0), ms(120_000));
    let j = Backoff::Geometric {
        base: ms(1000),
        factor_permille: 1600,
        max: ms(120_000),
        spread: Spread::PlusMinus(200),
        immediate_first: false,
    };
    assert_eq!(j.delay(1, 0), ms(800));
    assert_eq!(j.delay(1, 400_000_000), ms(1200));
    // StackExchange.Redis: at once, then uniform in [2.5 s, min(10 s,
    // 2.5 s × 1.1^n)].
    let se = preset_cfg("stackexchange-redis").reconnect;
    let Reconnect::Backoff(b) = se else {
        panic!("{se:?}")
    };
    assert_eq!(b.delay(1, 7), ms(0));
    assert_eq!(b.delay(2, 0), ms(2500));
    assert!(b.delay(3, u64::MAX - 1) <= ms(2750));
    assert_eq!(b.delay(40, 0), ms(2500));
    assert!(b.delay(40, 7_500_000_000) == ms(10_000));
}

#[test]
fn redis_rs_reconnects_at_once_then_backs_off_and_gives_up_after_six_retries() {
    let cfg = preset_cfg("redis-rs");
    let mut l = ready(cfg);
    step(|o| l.command(at(100), o));
    let out = step(|o| l.lost(at(101), Loss::Reset, 0, o));
    assert_eq!(failed(&out), Some(LibError::Lost(Loss::Reset)), "returned");
    let mut delays = Vec::new();
    let mut now = 101;
    let mut out = out;
    while let Some((t, due)) = armed(&out)
        .into_iter()
        .find(|(t, _)| matches!(t, LibTimer::Reconnect(_)))
    {
        delays.push(due.saturating_since(at(now)).as_nanos() / 1_000_000);
        now = due.as_nanos() / 1_000_000;
        let o1 = step(|o| l.timer(due, t, due, 0, o));
        assert!(o1.contains(&LibAction::Connect));
        out = step(|o| l.connect_failed(due, Loss::Reset, 0, o));
    }
    assert_eq!(delays, vec![0, 100, 200, 400, 800, 1600, 3200]);
    assert_eq!(l.link(), Link::Dead);
    let out = step(|o| l.command(at(20_000), o));
    assert_eq!(failed(&out), Some(LibError::Closed));
}

#[test]
fn a_grpc_channel_fails_calls_fast_during_its_backoff_then_idles() {
    let cfg = preset_cfg("grpc-js");
    let mut l = Library::new(cfg);
    let out = step(|o| l.command(at(0), o));
    assert!(out.contains(&LibAction::Connect));
    // The connect is refused: the call fails, TRANSIENT_FAILURE for 1 s
    // (± 20 %: the draw 0 gives 0.8 s).
    let out = step(|o| l.connect_failed(at(1), Loss::Reset, 0, o));
    assert_eq!(failed(&out), Some(LibError::ConnectFailed(Loss::Reset)));
    let (t, due) = timer_of(&out, |t| matches!(t, LibTimer::Reconnect(_)));
    assert_eq!(due, at(801));
    assert!(out
        .iter()
        .any(|a| matches!(a, LibAction::Note(LibNote::BackoffFor { attempt: 1, .. }))));
    // A call meanwhile fails at once, with no connect.
    let out = step(|o| l.command(at(500), o));
    assert_eq!(failed(&out), Some(LibError::Offline));
    assert!(!out.contains(&LibAction::Connect));
    // The backoff passes: idle, no connect by itself.
    let out = step(|o| l.timer(due, t, due, 0, o));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(l.link(), Link::Down);
    // The next call connects; a second failure backs off 1.6 s (−20 %).
    let out = step(|o| l.command(at(2000), o));
    assert!(out.contains(&LibAction::Connect));
    let out = step(|o| l.connect_failed(at(2001), Loss::Reset, 0, o));
    let (_, due) = timer_of(&out, |t| matches!(t, LibTimer::Reconnect(_)));
    assert_eq!(due, at(2001 + 1280));
    // A lost ready connection goes idle at once (no backoff).
    let mut l = ready(cfg);
    step(|o| l.command(at(100), o));
    let out = step(|o| l.lost(at(101), Loss::Eof, 0, o));
    assert_eq!(failed(&out), Some(LibError::Lost(Loss::Eof)));
    assert_eq!(l.link(), Link::Down);
    assert!(armed(&out).is_empty());
}
