# The platform-only workload of crates/thaw-scenario/benches/platform-only.toml
# in SimFaaS 0.2.2 (pip install simfaas==0.2.2), for a side-by-side timing:
#   /usr/bin/time -v python3 docs/measure/simfaas-platform-only.py
#   /usr/bin/time -v thaw run crates/thaw-scenario/benches/platform-only.toml --summary
# Poisson arrivals at 0.9/s, exponential warm service (mean 1.991 s), cold
# service 1.991 + 0.253 s, expiration 600 s, 10^6 s of arrivals (~900 000).
from simfaas.ServerlessSimulator import ServerlessSimulator

sim = ServerlessSimulator(
    arrival_rate=0.9,
    warm_service_rate=1 / 1.991,
    cold_service_rate=1 / 2.244,
    expiration_threshold=600,
    max_time=1_000_000,
)
sim.generate_trace(debug_print=False, progress=False)
sim.print_trace_results()
