//! thaw's platform model against the 20 AWS Lambda experiments that the
//! SimFaaS authors published (docs/data/simfaas-aws-experiments.csv;
//! docs/validation.md). Each experiment is a Poisson workload at its
//! arrival rate with a 10-minute idle expiry; thaw runs it as SimFaaS's
//! comparison notebook does: the mean warm (1.9813 s) and cold (2.3037 s)
//! response times over all experiments, the cold one as init plus the
//! warm handler, a 600 s reap after the freeze, no connection, and the
//! newest-created placement.
use std::fmt::Write as _;

/// The experiments file, compiled in.
const CSV: &str = include_str!("../docs/data/simfaas-aws-experiments.csv");

/// SimFaaS's predictions for the same rows (SimFaaS 0.2.2 re-run with
/// seed 0 following its `04-Experiment-Comparison` notebook): (P(cold),
/// mean instances), by experiment name.
const SIMFAAS: &[(&str, f64, f64)] = &[
    ("experiment_13", 0.33225, 0.667),
    ("experiment_14", 0.21376, 0.805),
    ("experiment_15", 0.18275, 0.844),
    ("experiment_16", 0.14474, 0.871),
    ("experiment_17", 0.08800, 0.948),
    ("experiment_19", 0.03897, 1.000),
    ("experiment_18", 0.02345, 1.068),
    ("experiment_12", 0.02282, 1.262),
    ("experiment_10", 0.01021, 2.054),
    ("experiment_11", 0.00727, 2.647),
    ("experiment_0", 0.00712, 2.653),
    ("experiment_5", 0.00388, 3.563),
    ("experiment_1", 0.00273, 4.356),
    ("experiment_6", 0.00240, 4.994),
    ("experiment_2", 0.00200, 5.614),
    ("experiment_7", 0.00175, 6.134),
    ("experiment_3", 0.00160, 6.682),
    ("experiment_8", 0.00146, 7.203),
    ("experiment_4", 0.00129, 7.642),
    ("experiment_9", 0.00125, 8.156),
];

/// One experiment: what AWS measured.
#[derive(Clone, Debug)]
pub struct Experiment {
    pub name: String,
    pub rate: f64,
    pub p_cold: f64,
    pub p_cold_se: f64,
    pub instances: f64,
    pub running: f64,
    pub idle: f64,
}

/// The 20 experiments, in the file's order (by arrival rate).
pub fn experiments() -> Vec<Experiment> {
    let mut lines = CSV.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let (rate, pc, se, inst, run, idle) = (
        col("ArrivalRate"),
        col("ColdStartProbability"),
        col("ColdStartProbabilitySE"),
        col("AverageInstanceCount"),
        col("AverageRunningInstances"),
        col("AverageIdleInstances"),
    );
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            let f = |i: usize| c[i].parse::<f64>().expect("a number");
            Experiment {
                name: c[0].to_string(),
                rate: f(rate),
                p_cold: f(pc),
                p_cold_se: f(se),
                instances: f(inst),
                running: f(run),
                idle: f(idle),
            }
        })
        .collect()
}

/// thaw's figures for one experiment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Simulated {
    pub p_cold: f64,
    pub instances: f64,
    pub running: f64,
    pub idle: f64,
}

/// How the platform is configured for the comparison.
#[derive(Clone, Copy, Debug)]
pub struct Setup {
    /// `function.handler_time`: SimFaaS's exponential service time, or
    /// its mean as a fixed duration.
    pub handler: &'static str,
    /// `function.placement`.
    pub placement: &'static str,
}

/// SimFaaS's own assumptions: exponential service times, the newest
/// created idle instance first.
pub const SIMFAAS_SETUP: Setup = Setup {
    handler: "{ exponential = \"1.9813s\" }",
    placement: "newest_created",
};

/// The scenario of one experiment.
pub fn scenario(rate: f64, arrivals: u64, setup: Setup) -> String {
    format!(
        "[scenario]\nname = \"aws-validation\"\n[function]\nmemory_mb = 1769\ntimeout = \"900s\"\ninit_duration = \"322.4ms\"\nhandler_time = {}\nreap_after = \"600s\"\nmax_concurrency = 10000\nplacement = \"{}\"\n[client]\nrequests = []\n[workload]\npoisson = {{ rate = {rate}, count = {arrivals} }}\n",
        setup.handler, setup.placement
    )
}

/// Runs one experiment over `arrivals` arrivals, averaged over `seeds`.
pub fn simulate(rate: f64, arrivals: u64, seeds: u64, setup: Setup) -> Simulated {
    let text = scenario(rate, arrivals, setup);
    let s = thaw_scenario::load("aws-validation.toml", &text, &[]).expect("a valid scenario");
    let mut sum = Simulated::default();
    for seed in 1..=seeds {
        let r = thaw_scenario::run_scenario(&s, Some(seed), &mut thaw_core::NullSink)
            .expect("the run finishes");
        let p = &r.json["metrics"]["platform"];
        let g = |k: &str| p[k].as_f64().unwrap_or(f64::NAN);
        sum.p_cold += g("cold_start_probability");
        sum.instances += g("live_mean");
        sum.running += g("busy_mean");
        sum.idle += g("idle_mean");
    }
    let n = seeds as f64;
    Simulated {
        p_cold: sum.p_cold / n,
        instances: sum.instances / n,
        running: sum.running / n,
        idle: sum.idle / n,
    }
}

/// Arrivals for an experiment: SimFaaS's horizon (10⁶ s) at its rate, at
/// least `min` and at most `max`.
pub fn arrivals(rate: f64, min: u64, max: u64) -> u64 {
    ((rate * 1e6).round() as u64).clamp(min, max)
}

/// The summary of a comparison: mean absolute percentage errors against
/// AWS, and the rows within two standard errors of the measured P(cold).
#[derive(Clone, Copy, Debug, Default)]
pub struct Summary {
    pub thaw_p_cold_mape: f64,
    pub thaw_instances_mape: f64,
    pub simfaas_p_cold_mape: f64,
    pub simfaas_instances_mape: f64,
    pub thaw_within_2se: usize,
    pub simfaas_within_2se: usize,
}

/// Runs every experiment; returns the Markdown table and the summary.
pub fn compare(min: u64, max: u64, seeds: u64, setup: Setup) -> (String, Summary) {
    let mut table = String::from(
        "| experiment | rate (req/s) | P(cold) AWS (± SE) | P(cold) thaw | P(cold) SimFaaS | instances AWS | instances thaw | instances SimFaaS | running AWS / thaw | idle AWS / thaw |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut s = Summary::default();
    let exps = experiments();
    let n = exps.len() as f64;
    for e in &exps {
        let t = simulate(e.rate, arrivals(e.rate, min, max), seeds, setup);
        let (sp, si) = SIMFAAS
            .iter()
            .find(|(name, _, _)| *name == e.name)
            .map(|&(_, p, i)| (p, i))
            .unwrap_or((f64::NAN, f64::NAN));
        let ape = |sim: f64, real: f64| (sim - real).abs() / real;
        s.thaw_p_cold_mape += ape(t.p_cold, e.p_cold) / n;
        s.thaw_instances_mape += ape(t.instances, e.instances) / n;
        s.simfaas_p_cold_mape += ape(sp, e.p_cold) / n;
        s.simfaas_instances_mape += ape(si, e.instances) / n;
        s.thaw_within_2se += usize::from((t.p_cold - e.p_cold).abs() <= 2.0 * e.p_cold_se);
        s.simfaas_within_2se += usize::from((sp - e.p_cold).abs() <= 2.0 * e.p_cold_se);
        let _ = writeln!(
            table,
            "| {} | {:.4} | {:.5} ± {:.5} | {:.5} | {:.5} | {:.3} | {:.3} | {:.3} | {:.3} / {:.3} | {:.3} / {:.3} |",
            e.name,
            e.rate,
            e.p_cold,
            e.p_cold_se,
            t.p_cold,
            sp,
            e.instances,
            t.instances,
            si,
            e.running,
            t.running,
            e.idle,
            t.idle
        );
    }
    (table, s)
}
