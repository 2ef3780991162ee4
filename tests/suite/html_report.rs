//! The HTML report (`thaw run FILE --html OUT.html`, crate thaw-report):
//! its structure for two scenarios (snapshots of an outline: sections,
//! lanes, marks and their tooltips), determinism, self-containment, every
//! scenario renders, and a real browser loads it.
//!
//! The browser test runs headless Chromium when it is installed (Debian:
//! `apt-get install chromium`; `.ci/run` installs it). Without it the test
//! prints that it skipped, unless `THAW_BROWSER_TEST=require` (as in CI),
//! which makes a missing browser a failure. `THAW_CHROMIUM` names another
//! binary.
use std::path::{Path, PathBuf};
use std::process::Command;
use thaw_report::{render, HtmlCollector};
use thaw_scenario::{load, run_scenario};
use thaw_tests::{scenario_files, workspace_root};

fn report_of(rel: &str) -> String {
    let path = workspace_root().join(rel);
    let text = std::fs::read_to_string(&path).expect("readable scenario");
    let s = load(&path.to_string_lossy(), &text, &[])
        .unwrap_or_else(|e| panic!("{rel} does not load:\n{}", e.render()));
    let mut c = HtmlCollector::new(&s.config);
    let report = run_scenario(&s, None, &mut c).expect("run finishes");
    render(c, &s, &report)
}

/// What the page shows, one line per thing: sections, swimlane captions,
/// lanes, and every mark (`class="m …"`) and state band with the first
/// line of its tooltip. Coordinates are left out: this is the structure.
fn outline(html: &str) -> String {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i..];
        let tag_end = rest.find('>').unwrap_or(rest.len());
        let tag = &rest[..tag_end];
        let attr = |name: &str| -> Option<&str> {
            let k = format!(" {name}=\"");
            let a = tag.find(&k)? + k.len();
            let b = tag[a..].find('"')? + a;
            Some(&tag[a..b])
        };
        if tag.starts_with("<text class=\"glyph ") {
            let after = &rest[tag_end + 1..];
            let t = after
                .strip_prefix("<title>")
                .and_then(|t| t.split("</title>").next())
                .unwrap_or("");
            out.push(format!("    {}: {t}", attr("class").unwrap_or("")));
        } else if tag.starts_with("<section") {
            out.push(format!("section {}", attr("id").unwrap_or("?")));
        } else if tag.starts_with("<figcaption") {
            let end = rest.find("</figcaption>").unwrap_or(tag_end);
            out.push(format!("  figure: {}", &rest[tag_end + 1..end]));
        } else if tag.starts_with("<g") {
            let class = attr("class").unwrap_or("");
            let title = || {
                let after = &rest[tag_end + 1..];
                after
                    .strip_prefix("<title>")
                    .and_then(|t| t.split("</title>").next())
                    .map(|t| t.lines().next().unwrap_or("").trim().to_string())
                    .unwrap_or_default()
            };
            if class == "pt" || class.starts_with("cell ") {
                out.push(format!("    {class}: {}", title()));
            } else if let Some(l) = attr("data-lane") {
                out.push(format!("    lane {l}"));
            } else if let Some(series) = attr("data-series") {
                out.push(format!("    {class}: {series}"));
            } else if class.starts_with("m ")
                || class.starts_with("band ")
                || class.starts_with("area ")
            {
                let extra = attr("data-state")
                    .map(|s| format!(" [{s}]"))
                    .unwrap_or_default();
                out.push(format!("    {class}{extra}: {}", title()));
            }
        }
        rest = &rest[1..];
    }
    out.join("\n")
}

#[test]
fn upstash_report_structure() {
    let html = report_of("sim-scenarios/seeds/upstash-etimedout.toml");
    let o = outline(&html);
    assert!(o.len() < 200_000, "outline too large: {}", o.len());
    insta::assert_snapshot!("html_upstash_etimedout", o);
}

#[test]
fn many_environments_report_structure() {
    let html = report_of("sim-scenarios/seeds/mysql-zombies-too-many.toml");
    assert!(
        html.contains("Environments are not drawn one by one"),
        "100 environments: the overview aggregates"
    );
    let o = outline(&html);
    assert!(o.len() < 200_000, "outline too large: {}", o.len());
    insta::assert_snapshot!("html_mysql_zombies_too_many", o);
}

/// `thaw run --html-conn N`: a connection chosen by number gets its
/// swimlane with every packet, even far past the connections the report
/// follows on its own (the first 5,000), and only when asked for.
#[test]
fn a_chosen_connection_gets_its_swimlane_however_late() {
    let rel = "crates/thaw-scenario/benches/poisson-per-invocation.toml";
    let text = std::fs::read_to_string(workspace_root().join(rel)).unwrap();
    let s = load(rel, &text, &["workload.poisson.count=5600".to_string()])
        .unwrap_or_else(|e| panic!("{}", e.render()));
    let page = |chosen: Option<usize>| {
        let mut c = HtmlCollector::new(&s.config);
        if let Some(n) = chosen {
            c = c.choose(n);
        }
        let report = run_scenario(&s, None, &mut c).expect("run finishes");
        render(c, &s, &report)
    };
    let figure = |html: &str, n: usize| -> Option<String> {
        html.split("<figure")
            .find(|f| f.contains(&format!("Connection {n}:")))
            .map(|f| f.split("</figure>").next().unwrap_or("").to_string())
    };
    let plain = page(None);
    assert!(figure(&plain, 5500).is_none(), "not drawn unless asked for");
    let chosen = page(Some(5500));
    let f = figure(&chosen, 5500).expect("the chosen connection's swimlane");
    assert!(f.contains("the connection asked for (--html-conn)"), "{f}");
    for needle in [
        "class=\"m arrow k-syn",
        "class=\"m arrow k-data",
        "class=\"m arrow k-fin",
    ] {
        assert!(f.contains(needle), "the chosen swimlane lacks {needle}");
    }
    // The invocation table names a failure's connection by that number.
    let z = report_of("sim-scenarios/seeds/mysql-zombies-too-many.toml");
    assert!(z.contains("<td>#152</td>"), "a failure's connection number");
    // Past the run's last connection: said so, nothing drawn.
    let s2 = load(rel, &text, &["workload.poisson.count=3".to_string()]).unwrap();
    let mut c = HtmlCollector::new(&s2.config).choose(9);
    let report = run_scenario(&s2, None, &mut c).expect("run finishes");
    let html = render(c, &s2, &report);
    assert!(html.contains("Connection 9 was asked for (--html-conn), but the run opened only 3."));
}

/// The marks the Upstash story needs, as the page writes them.
fn assert_upstash_marks(html: &str) {
    let first = html
        .split("<figure")
        .nth(1)
        .expect("a swimlane figure")
        .split("</figure>")
        .next()
        .unwrap_or("");
    for (what, needle) in [
        ("the lanes", "data-lane=\"firewall\""),
        ("the server's lane", "data-lane=\"upstash\""),
        ("FIN while frozen", "class=\"m arrow k-fin fate-frozen\""),
        (
            "the drop at the middlebox",
            "class=\"m arrow k-data fate-dropped\"",
        ),
        ("the ETIMEDOUT", "class=\"m ev-outcome error\""),
        ("its errno", "ETIMEDOUT (errno 110)"),
        (
            "the application's message",
            "read ETIMEDOUT: the kernel gave up after 2 unanswered retransmission(s)",
        ),
        ("the idle close", "class=\"m ev-idle_close\""),
        ("the frozen span", "class=\"m shade sh-frozen\""),
        ("the reap", "class=\"m shade sh-reaped\""),
        ("the cold start", "class=\"m shade sh-cold\""),
        ("the flow forgotten", "class=\"m ev-forget\""),
        ("a state band", "data-state=\"FIN_WAIT1\""),
    ] {
        assert!(first.contains(needle), "swimlane lacks {what}: {needle}");
    }
}

#[test]
fn upstash_swimlane_has_the_story() {
    let html = report_of("sim-scenarios/seeds/upstash-etimedout.toml");
    assert_upstash_marks(&html);
    // The second connection: the cold start at 400 s opens a new one.
    assert!(html.contains("Connection 2: env-2:32768 → upstash"));
}

#[test]
fn same_run_same_bytes() {
    for rel in [
        "sim-scenarios/seeds/upstash-etimedout.toml",
        "sim-scenarios/examples/nat-gateway-then-load-balancer.toml",
    ] {
        assert!(report_of(rel) == report_of(rel), "{rel}: two runs differ");
    }
}

/// Nothing in the page can fetch: no remote `src`/`href`/`url()`, no
/// `@import`, and the CSP forbids any load.
fn assert_self_contained(rel: &str, html: &str) {
    let lower = html.to_ascii_lowercase();
    for bad in [
        "src=\"http",
        "src='http",
        "href=\"http",
        "href='http",
        "src=\"//",
        "href=\"//",
        "url(http",
        "url(//",
        "@import",
        "<link",
        "<iframe",
        "<img",
    ] {
        assert!(!lower.contains(bad), "{rel}: the page contains {bad:?}");
    }
    assert!(html.contains(thaw_report::CSP), "{rel}: no CSP");
}

#[test]
fn every_scenario_renders_self_contained() {
    for rel in scenario_files() {
        let rel = rel.to_string_lossy().replace('\\', "/");
        let html = report_of(&rel);
        assert_self_contained(&rel, &html);
        assert!(
            html.len() < 2_000_000,
            "{rel}: report of {} bytes",
            html.len()
        );
        assert!(html.ends_with("</html>\n"), "{rel}: truncated page");
    }
}

fn chromium() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("THAW_CHROMIUM") {
        if !p.is_empty() {
            return Some(PathBuf::from(p));
        }
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(path) = std::env::var("PATH") {
            for dir in std::env::split_paths(&path) {
                let p = dir.join(name);
                if p.is_file() {
                    return Some(p);
                }
            }
        }
    }
    None
}

/// Runs headless Chromium on `page` with `args`: (stdout, stderr).
fn run_chromium(bin: &Path, page: &Path, args: &[&str]) -> (String, String) {
    // A profile per run: two browser tests may run at once.
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let profile = tempfile_dir(&format!("thaw-chromium-profile-{n}"));
    let out = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium starts");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn tempfile_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temporary directory");
    d
}

/// Distinct colours of a PNG.
fn colours(png_path: &Path) -> usize {
    let f = std::fs::File::open(png_path).expect("screenshot written");
    let mut dec = png::Decoder::new(std::io::BufReader::new(f));
    dec.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = dec.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let px = info.color_type.samples();
    let mut seen = std::collections::BTreeSet::new();
    for p in buf[..info.buffer_size()].chunks(px) {
        seen.insert(p.to_vec());
        if seen.len() > 1000 {
            break;
        }
    }
    seen.len()
}

#[test]
fn a_browser_loads_the_report() {
    let Some(bin) = chromium() else {
        if std::env::var("THAW_BROWSER_TEST").as_deref() == Ok("require") {
            panic!("THAW_BROWSER_TEST=require but no chromium found (apt-get install chromium)");
        }
        // Written to the stderr handle itself, which the test harness does
        // not capture (eprintln! would be hidden for a passing test).
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "html_report::a_browser_loads_the_report SKIPPED: no headless Chromium (apt-get install chromium, or THAW_CHROMIUM=/path/to/chrome)"
        );
        return;
    };
    let dir = tempfile_dir("thaw-html-browser");
    let page = dir.join("upstash.html");
    let html = report_of("sim-scenarios/seeds/upstash-etimedout.toml");
    assert_self_contained("upstash", &html);
    std::fs::write(&page, &html).expect("write the page");

    // The DOM after the script ran, and the console.
    let (dom, log) = run_chromium(&bin, &page, &["--virtual-time-budget=3000", "--dump-dom"]);
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(
        console.is_empty(),
        "console messages (errors, CSP violations): {console:#?}"
    );
    assert!(
        dom.contains("data-ready=\"1\""),
        "the script did not finish"
    );
    assert!(
        dom.contains("data-resources=\"0\""),
        "the page fetched something"
    );
    assert_upstash_marks(&dom);
    // The script drew the axis ticks.
    assert!(dom.contains("id=\"ov-range\">showing 0 →"));

    // A screenshot, and it is not blank.
    let shot = dir.join("shot.png");
    let (_, log) = run_chromium(
        &bin,
        &page,
        &[
            "--window-size=1200,1400",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    let n = colours(&shot);
    assert!(n >= 16, "screenshot looks blank: {n} colour(s)");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Writes docs/upstash-swimlane.png, the README's picture:
/// `cargo test -p thaw-tests --test suite html_report::readme_screenshot -- --ignored`
#[test]
#[ignore = "writes docs/upstash-swimlane.png; needs chromium"]
fn readme_screenshot() {
    let bin = chromium().expect("chromium (apt-get install chromium)");
    let dir = tempfile_dir("thaw-html-shot");
    let page = dir.join("upstash.html");
    std::fs::write(
        &page,
        report_of("sim-scenarios/seeds/upstash-etimedout.toml"),
    )
    .expect("write the page");
    let shot = dir.join("shot.png");
    let url_page = PathBuf::from(format!("{}#only-swim-1-fig", page.display()));
    run_chromium(
        &bin,
        &url_page,
        &[
            "--window-size=1180,1800",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    // Re-encoded with a palette of its 256 most frequent colours (the
    // rest, anti-aliasing shades, mapped to the nearest) at the best
    // compression, so that the file stays small.
    let f = std::fs::File::open(&shot).expect("screenshot");
    let mut dec = png::Decoder::new(std::io::BufReader::new(f));
    dec.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = dec.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let pixels: Vec<[u8; 3]> = buf[..info.buffer_size()]
        .chunks(info.color_type.samples())
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    let mut freq: std::collections::BTreeMap<[u8; 3], u64> = std::collections::BTreeMap::new();
    for p in &pixels {
        *freq.entry(*p).or_default() += 1;
    }
    let mut by_freq: Vec<([u8; 3], u64)> = freq.iter().map(|(c, n)| (*c, *n)).collect();
    by_freq.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let palette: Vec<[u8; 3]> = by_freq.iter().take(256).map(|(c, _)| *c).collect();
    let index: std::collections::BTreeMap<[u8; 3], u8> = freq
        .keys()
        .map(|c| {
            let best = (0..palette.len())
                .min_by_key(|&i| {
                    let p = palette[i];
                    (0..3)
                        .map(|k| (i32::from(p[k]) - i32::from(c[k])).pow(2))
                        .sum::<i32>()
                })
                .expect("a palette");
            (*c, best as u8)
        })
        .collect();
    let data: Vec<u8> = pixels.iter().map(|p| index[p]).collect();
    let out = workspace_root().join("docs/upstash-swimlane.png");
    let w = std::io::BufWriter::new(std::fs::File::create(&out).expect("docs/ writable"));
    let mut enc = png::Encoder::new(w, info.width, info.height);
    enc.set_color(png::ColorType::Indexed);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_palette(palette.concat());
    enc.set_compression(png::Compression::Best);
    enc.set_filter(png::FilterType::NoFilter);
    enc.write_header()
        .and_then(|mut wr| wr.write_image_data(&data))
        .expect("PNG written");
    let size = std::fs::metadata(&out).expect("written").len();
    assert!(size < 200_000, "docs/upstash-swimlane.png is {size} bytes");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The page of a small sweep of the Upstash scenario, built as
/// `thaw sweep … --html` builds it: from the JSON-lines records.
fn sweep_page(
    varies: &[&str],
    seeds: Option<u64>,
    boundaries: &[thaw_report::SweepBoundary],
) -> String {
    use thaw_explore::{sweep::Runs, Format, Prepared, Sweep, Vary};
    let rel = "sim-scenarios/seeds/upstash-etimedout.toml";
    let text = std::fs::read_to_string(workspace_root().join(rel)).expect("readable scenario");
    let prepared = Prepared::load(rel, &text, &[]).expect("loads");
    let name = prepared.scenario().config.name.clone();
    let expectations: Vec<String> = prepared
        .scenario()
        .expectations
        .iter()
        .map(|e| e.expr.clone())
        .collect();
    let varies: Vec<Vary> = varies
        .iter()
        .map(|v| Vary::parse(v).expect("vary"))
        .collect();
    let axes: Vec<thaw_report::SweepAxis> = varies
        .iter()
        .map(|v| thaw_report::SweepAxis {
            path: v.path.clone(),
            log: matches!(v.spec, thaw_explore::Spec::Range { log: true, .. }),
        })
        .collect();
    let paths: Vec<String> = axes.iter().map(|a| a.path.clone()).collect();
    let sweep =
        Sweep::new(prepared, varies, seeds, Format::Jsonl).unwrap_or_else(|_| panic!("plans"));
    let mut records = Vec::new();
    sweep
        .run(Runs::all(sweep.runs()), 2, |_, line, _| {
            records.push(thaw_report::SweepRecord::from_json(line, &paths).expect("a record"));
            Ok::<(), ()>(())
        })
        .expect("runs");
    let info = thaw_report::SweepInfo {
        name: &name,
        id: sweep.id(),
        axes: &axes,
        seeds: sweep.seeds_per_point(),
        runs: sweep.runs(),
        expectations: &expectations,
        heat_metric: "errors",
        boundaries,
    };
    thaw_report::render_sweep(&info, &records)
}

fn upstash_boundary() -> Vec<thaw_report::SweepBoundary> {
    // What `thaw boundary upstash-etimedout.toml --vary
    // server.idle_timeout=1s..600s --format json` finds.
    vec![thaw_report::SweepBoundary {
        path: "server.idle_timeout".into(),
        pass: "71.735904454s".into(),
        fail: "71.735904455s".into(),
        change: "fails `invocation[2].error == ETIMEDOUT`".into(),
    }]
}

#[test]
fn sweep_of_one_key_structure() {
    let html = sweep_page(
        &["server.idle_timeout=1s..600s/6"],
        Some(2),
        &upstash_boundary(),
    );
    assert_self_contained("sweep", &html);
    let o = outline(&html);
    // The flip the sweep shows and the boundary thaw boundary found.
    assert!(o.contains("m flip: the verdict flips between server.idle_timeout = 1s (✓ pass) and 120.8s (✗ fail)"), "{o}");
    assert!(
        o.contains("m bnd: thaw boundary: passes at 71.735904454s"),
        "{o}"
    );
    // Each error kind is its own series.
    assert!(o.contains("series s0: ETIMEDOUT"), "{o}");
    insta::assert_snapshot!("html_sweep_upstash_one_key", o);
}

#[test]
fn sweep_of_two_keys_structure() {
    let html = sweep_page(
        &[
            "server.idle_timeout=1s..600s/4",
            "function.reap_after=100s,300s",
        ],
        None,
        &upstash_boundary(),
    );
    assert_self_contained("sweep", &html);
    let o = outline(&html);
    assert!(o.contains("m contour: the boundary"), "{o}");
    assert!(
        o.contains("m bnd: thaw boundary: server.idle_timeout passes at 71.735904454s"),
        "{o}"
    );
    assert!(
        o.contains("cell pass: server.idle_timeout = 1s, function.reap_after = 100s: ✓ pass"),
        "{o}"
    );
    insta::assert_snapshot!("html_sweep_upstash_two_keys", o);
}

#[test]
fn same_sweep_same_bytes() {
    let v = [
        "server.idle_timeout=1s..600s/5:log",
        "function.reap_after=100s,300s",
    ];
    assert!(sweep_page(&v, Some(2), &[]) == sweep_page(&v, Some(2), &[]));
    let v = ["server.idle_timeout=1s..600s/5"];
    let b = upstash_boundary();
    assert!(sweep_page(&v, None, &b) == sweep_page(&v, None, &b));
}

#[test]
fn a_browser_loads_the_sweep_page() {
    let Some(bin) = chromium() else {
        if std::env::var("THAW_BROWSER_TEST").as_deref() == Ok("require") {
            panic!("THAW_BROWSER_TEST=require but no chromium found (apt-get install chromium)");
        }
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "html_report::a_browser_loads_the_sweep_page SKIPPED: no headless Chromium"
        );
        return;
    };
    let dir = tempfile_dir("thaw-sweep-browser");
    for (name, varies) in [
        ("one", &["server.idle_timeout=1s..600s/6"][..]),
        (
            "two",
            &[
                "server.idle_timeout=1s..600s/4",
                "function.reap_after=100s,300s",
            ][..],
        ),
    ] {
        let page = dir.join(format!("{name}.html"));
        std::fs::write(&page, sweep_page(varies, None, &upstash_boundary())).expect("write");
        let (dom, log) = run_chromium(&bin, &page, &["--virtual-time-budget=3000", "--dump-dom"]);
        let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
        assert!(console.is_empty(), "{name}: console messages: {console:#?}");
        assert!(
            dom.contains("data-ready=\"1\""),
            "{name}: the script did not finish"
        );
        assert!(
            dom.contains("data-resources=\"0\""),
            "{name}: the page fetched something"
        );
        let shot = dir.join(format!("{name}.png"));
        run_chromium(
            &bin,
            &page,
            &[
                "--window-size=1000,900",
                &format!("--screenshot={}", shot.display()),
            ],
        );
        let n = colours(&shot);
        assert!(n >= 8, "{name}: screenshot looks blank: {n} colour(s)");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
