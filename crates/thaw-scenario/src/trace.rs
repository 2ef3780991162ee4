//! Replay of the public Azure Functions traces ("Serverless in the Wild",
//! Shahrad et al., USENIX ATC 2020; the Azure Public Dataset): the 2019
//! per-minute invocation counts and the 2021 per-invocation trace, read at
//! load time a line at a time, keeping only the chosen function's arrivals
//! (docs/scenario-format.md, `[workload.trace]`).
use crate::file::{TraceFormat, TraceSection};
use crate::limits;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use thaw_core::SimDuration;

/// The arrivals a trace gives for one function.
#[derive(Clone, Debug, PartialEq)]
pub enum TraceArrivals {
    /// Azure 2019: invocations in each minute, minute 1 first.
    PerMinute(Vec<u32>),
    /// Azure 2021: arrival times (end − duration), sorted.
    Times(Vec<SimDuration>),
}

/// A problem with the trace: the key it is reported at (under
/// `workload.trace`), the message and a hint.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceError {
    /// `file`, `function`, `row`, ...
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

fn err(key: &'static str, message: String, hint: Option<&str>) -> TraceError {
    TraceError {
        key,
        message,
        hint: hint.map(str::to_string),
    }
}

/// Where `file` lies: as written if absolute, else relative to the
/// directory of the scenario file `scenario` (its name as given to the
/// loader; the working directory for `<stdin>`).
pub fn resolve(scenario: &str, file: &str) -> PathBuf {
    let f = Path::new(file);
    if f.is_absolute() {
        return f.to_path_buf();
    }
    match Path::new(scenario).parent() {
        Some(dir) if !scenario.starts_with('<') && scenario != "-" => dir.join(f),
        _ => f.to_path_buf(),
    }
}

/// Reads the trace `t` names (relative to the scenario file `scenario`).
pub fn read(scenario: &str, t: &TraceSection) -> Result<TraceArrivals, TraceError> {
    let path = resolve(scenario, &t.file);
    let shown = path.display().to_string();
    let open = std::fs::File::open(&path).map_err(|e| {
        err(
            "file",
            format!("cannot read trace file {shown}: {e}"),
            Some("a relative path is resolved against the scenario file's directory"),
        )
    })?;
    let len = open.metadata().map(|m| m.len()).unwrap_or(0);
    if len > limits::MAX_TRACE_BYTES {
        return Err(err(
            "file",
            format!(
                "trace file {shown} is {len} bytes; thaw reads traces of at most {} bytes (256 MiB)",
                limits::MAX_TRACE_BYTES
            ),
            Some("cut the file to the rows of the function you replay (e.g. with grep)"),
        ));
    }
    let reader = BufReader::new(open.take(limits::MAX_TRACE_BYTES + 1));
    parse(&shown, reader, t)
}

/// Parses a trace from `reader` (`shown` names it in messages).
pub fn parse(
    shown: &str,
    reader: impl BufRead,
    t: &TraceSection,
) -> Result<TraceArrivals, TraceError> {
    if t.function.is_none() && t.row.is_none() {
        return Err(err(
            "function",
            "the trace needs `function` (a function hash) or, for azure-2019, `row`".into(),
            Some("e.g. function = \"<HashFunction>\", or row = 1 for the first data row"),
        ));
    }
    if t.function.is_some() && t.row.is_some() {
        return Err(err(
            "row",
            "give either `function` or `row`, not both".into(),
            None,
        ));
    }
    if t.row == Some(0) {
        return Err(err(
            "row",
            "`row` counts data rows from 1 (the first after the header)".into(),
            None,
        ));
    }
    match t.format {
        TraceFormat::Azure2019 => azure_2019(shown, reader, t),
        TraceFormat::Azure2021 => {
            if t.row.is_some() {
                return Err(err(
                    "row",
                    "`row` chooses a row of an azure-2019 file; an azure-2021 file has a row per invocation".into(),
                    Some("name the function with `function` (and `app` if needed)"),
                ));
            }
            azure_2021(shown, reader, t)
        }
    }
}

/// Lines of `reader` with their 1-based numbers, a read error or invalid
/// UTF-8 becoming a message.
fn lines<'a>(
    shown: &'a str,
    reader: impl BufRead + 'a,
) -> impl Iterator<Item = Result<(usize, String), TraceError>> + 'a {
    reader.lines().enumerate().map(move |(i, l)| {
        l.map(|l| (i + 1, l.trim_end_matches('\r').to_string()))
            .map_err(|e| err("file", format!("{shown}:{}: {e}", i + 1), None))
    })
}

fn header(
    shown: &str,
    first: Option<Result<(usize, String), TraceError>>,
) -> Result<Vec<String>, TraceError> {
    match first {
        None => Err(err(
            "file",
            format!("trace file {shown} is empty"),
            Some("the first line must name the columns"),
        )),
        Some(Err(e)) => Err(e),
        Some(Ok((_, l))) => Ok(l.split(',').map(|c| c.trim().to_string()).collect()),
    }
}

fn column(shown: &str, head: &[String], name: &str, expected: &str) -> Result<usize, TraceError> {
    head.iter().position(|c| c == name).ok_or_else(|| {
        err(
            "format",
            format!("{shown}:1: the header has no column `{name}`"),
            Some(expected),
        )
    })
}

fn not_found(shown: &str, t: &TraceSection, rows: u64) -> TraceError {
    let what = match (&t.function, &t.app, t.row) {
        (_, _, Some(r)) => format!("{shown} has {rows} data rows, not {r}"),
        (Some(f), Some(a), _) => {
            format!("{shown} has no invocation of function `{f}` of app `{a}`")
        }
        (Some(f), None, _) => format!("{shown} has no row for function `{f}`"),
        (None, _, None) => format!("{shown}: no function chosen"),
    };
    err(
        if t.row.is_some() { "row" } else { "function" },
        what,
        Some("copy the function's hash from the file's function column"),
    )
}

const HEAD_2019: &str =
    "azure-2019 files start with `HashOwner,HashApp,HashFunction,Trigger,1,2,...,1440`";
const HEAD_2021: &str = "azure-2021 files start with `app,func,end_timestamp,duration`";

fn azure_2019(
    shown: &str,
    reader: impl BufRead,
    t: &TraceSection,
) -> Result<TraceArrivals, TraceError> {
    let mut it = lines(shown, reader);
    let head = header(shown, it.next())?;
    let func_col = column(shown, &head, "HashFunction", HEAD_2019)?;
    let app_col = match t.app {
        Some(_) => Some(column(shown, &head, "HashApp", HEAD_2019)?),
        None => None,
    };
    // The minute columns: headed 1, 2, ..., N, consecutive.
    let first = head.iter().position(|c| c == "1").ok_or_else(|| {
        err(
            "format",
            format!("{shown}:1: the header has no minute column `1`"),
            Some(HEAD_2019),
        )
    })?;
    let mut minutes = 0;
    while head
        .get(first + minutes)
        .is_some_and(|c| *c == (minutes + 1).to_string())
    {
        minutes += 1;
    }
    if minutes > 1440 || first + minutes != head.len() {
        return Err(err(
            "format",
            format!(
                "{shown}:1: after `1` the header must name the minutes 2, 3, ... (at most 1440) to the end of the line; column {} is `{}`",
                first + minutes + 1,
                head.get(first + minutes).map_or("", |s| s.as_str())
            ),
            Some(HEAD_2019),
        ));
    }
    let mut rows = 0u64;
    for l in it {
        let (n, line) = l?;
        if line.trim().is_empty() {
            continue;
        }
        rows += 1;
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let chosen = match (&t.function, t.row) {
            (_, Some(r)) => rows == r,
            (Some(f), None) => {
                cells.get(func_col) == Some(&f.as_str())
                    && app_col.is_none_or(|c| Some(cells.get(c).copied()) == Some(t.app.as_deref()))
            }
            (None, None) => false,
        };
        if !chosen {
            continue;
        }
        if cells.len() != head.len() {
            return Err(err(
                "file",
                format!(
                    "{shown}:{n}: {} columns, the header names {}",
                    cells.len(),
                    head.len()
                ),
                None,
            ));
        }
        let mut counts = Vec::with_capacity(minutes);
        let mut total: u64 = 0;
        for (m, cell) in cells[first..].iter().enumerate() {
            let c: u32 = cell.parse().map_err(|_| {
                err(
                    "file",
                    format!("{shown}:{n}: minute {} (column {}) is `{cell}`, not a count of invocations", m + 1, first + m + 1),
                    Some("minute columns hold whole numbers >= 0"),
                )
            })?;
            total += u64::from(c);
            counts.push(c);
        }
        if total > limits::MAX_ARRIVALS {
            return Err(err(
                "file",
                format!(
                    "{shown}:{n}: {total} invocations; thaw runs at most {} at once",
                    limits::MAX_ARRIVALS
                ),
                None,
            ));
        }
        if total == 0 {
            return Err(err(
                "function",
                format!("{shown}:{n}: the chosen function has no invocation"),
                Some("choose a function with invocations"),
            ));
        }
        return Ok(TraceArrivals::PerMinute(counts));
    }
    Err(not_found(shown, t, rows))
}

fn azure_2021(
    shown: &str,
    reader: impl BufRead,
    t: &TraceSection,
) -> Result<TraceArrivals, TraceError> {
    let mut it = lines(shown, reader);
    let head = header(shown, it.next())?;
    let app_col = column(shown, &head, "app", HEAD_2021)?;
    let func_col = column(shown, &head, "func", HEAD_2021)?;
    let end_col = column(shown, &head, "end_timestamp", HEAD_2021)?;
    let dur_col = column(shown, &head, "duration", HEAD_2021)?;
    let mut times = Vec::new();
    let mut rows = 0u64;
    for l in it {
        let (n, line) = l?;
        if line.trim().is_empty() {
            continue;
        }
        rows += 1;
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.get(func_col).copied() != t.function.as_deref()
            || t.app
                .as_deref()
                .is_some_and(|a| cells.get(app_col).copied() != Some(a))
        {
            continue;
        }
        let num = |col: usize, name: &str| -> Result<f64, TraceError> {
            let cell = cells.get(col).copied().unwrap_or("");
            match cell.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
                _ => Err(err(
                    "file",
                    format!("{shown}:{n}: `{name}` is `{cell}`, not a number of seconds >= 0"),
                    Some("end_timestamp and duration are seconds, e.g. 1234.567"),
                )),
            }
        };
        let end = num(end_col, "end_timestamp")?;
        let dur = num(dur_col, "duration")?;
        // An invocation that began before the trace did arrives at 0.
        let ns = ((end - dur).max(0.0) * 1e9).round();
        let ns = if ns < u64::MAX as f64 {
            ns as u64
        } else {
            u64::MAX
        };
        if times.len() as u64 >= limits::MAX_ARRIVALS {
            return Err(err(
                "file",
                format!("{shown}:{n}: more than {} invocations of the function; thaw runs at most that many at once", limits::MAX_ARRIVALS),
                None,
            ));
        }
        times.push(SimDuration::from_nanos(ns));
    }
    if times.is_empty() {
        return Err(not_found(shown, t, rows));
    }
    times.sort();
    Ok(TraceArrivals::Times(times))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sec(format: TraceFormat, function: Option<&str>, row: Option<u64>) -> TraceSection {
        TraceSection {
            file: "t.csv".into(),
            format,
            function: function.map(str::to_string),
            app: None,
            row,
            start: None,
        }
    }

    const T2019: &str = "HashOwner,HashApp,HashFunction,Trigger,1,2,3\n\
        o1,a1,f1,http,0,2,1\n\
        o1,a1,f2,timer,1,0,0\n";

    #[test]
    fn azure_2019_by_function_and_by_row() {
        let by_f = parse(
            "t.csv",
            T2019.as_bytes(),
            &sec(TraceFormat::Azure2019, Some("f1"), None),
        );
        assert_eq!(by_f, Ok(TraceArrivals::PerMinute(vec![0, 2, 1])));
        let by_row = parse(
            "t.csv",
            T2019.as_bytes(),
            &sec(TraceFormat::Azure2019, None, Some(2)),
        );
        assert_eq!(by_row, Ok(TraceArrivals::PerMinute(vec![1, 0, 0])));
        let e = parse(
            "t.csv",
            T2019.as_bytes(),
            &sec(TraceFormat::Azure2019, Some("f9"), None),
        )
        .unwrap_err();
        assert!(e.message.contains("no row for function `f9`"), "{e:?}");
        let e = parse(
            "t.csv",
            T2019.as_bytes(),
            &sec(TraceFormat::Azure2019, None, Some(3)),
        )
        .unwrap_err();
        assert!(e.message.contains("2 data rows, not 3"), "{e:?}");
    }

    #[test]
    fn azure_2019_bad_cells_and_headers() {
        let bad = "HashOwner,HashApp,HashFunction,Trigger,1,2\no,a,f,http,1,x\n";
        let e = parse(
            "t.csv",
            bad.as_bytes(),
            &sec(TraceFormat::Azure2019, Some("f"), None),
        )
        .unwrap_err();
        assert!(
            e.message.contains("t.csv:2: minute 2 (column 6) is `x`"),
            "{e:?}"
        );
        let parse19 = |text: &str| {
            parse(
                "t.csv",
                text.as_bytes(),
                &sec(TraceFormat::Azure2019, Some("f"), None),
            )
            .unwrap_err()
        };
        let bad = "HashOwner,HashApp,Fn,Trigger,1\n";
        let e = parse19(bad);
        assert!(e.message.contains("no column `HashFunction`"), "{e:?}");
        let bad = "HashOwner,HashApp,HashFunction,Trigger,1,3\n";
        let e = parse19(bad);
        assert!(e.message.contains("column 6 is `3`"), "{e:?}");
        let e = parse19("");
        assert!(e.message.contains("empty"), "{e:?}");
        let short = "HashOwner,HashApp,HashFunction,Trigger,1,2\no,a,f,http,1\n";
        let e = parse19(short);
        assert!(e.message.contains("5 columns, the header names 6"), "{e:?}");
    }

    #[test]
    fn azure_2021_arrival_is_end_minus_duration() {
        let text = "app,func,end_timestamp,duration\n\
            a1,f1,10.5,0.5\n\
            a1,f2,3.0,1.0\n\
            a1,f1,2.25,0.25\n\
            a2,f1,0.1,0.3\n";
        let got = parse(
            "t.txt",
            text.as_bytes(),
            &sec(TraceFormat::Azure2021, Some("f1"), None),
        );
        let ns = SimDuration::from_nanos;
        assert_eq!(
            got,
            Ok(TraceArrivals::Times(vec![
                ns(0),
                ns(2_000_000_000),
                ns(10_000_000_000)
            ]))
        );
        let mut only_a1 = sec(TraceFormat::Azure2021, Some("f1"), None);
        only_a1.app = Some("a1".into());
        let got = parse("t.txt", text.as_bytes(), &only_a1);
        assert_eq!(
            got,
            Ok(TraceArrivals::Times(vec![
                ns(2_000_000_000),
                ns(10_000_000_000)
            ]))
        );
        let bad = "app,func,end_timestamp,duration\na,f,nan,1\n";
        let e = parse(
            "t.txt",
            bad.as_bytes(),
            &sec(TraceFormat::Azure2021, Some("f"), None),
        )
        .unwrap_err();
        assert!(
            e.message.contains("t.txt:2: `end_timestamp` is `nan`"),
            "{e:?}"
        );
        let e = parse(
            "t.txt",
            text.as_bytes(),
            &sec(TraceFormat::Azure2021, None, Some(1)),
        )
        .unwrap_err();
        assert_eq!(e.key, "row");
    }

    #[test]
    fn relative_paths_follow_the_scenario_file() {
        assert_eq!(
            resolve("sim-scenarios/examples/x.toml", "../data/a.csv"),
            Path::new("sim-scenarios/examples/../data/a.csv")
        );
        assert_eq!(resolve("x.toml", "a.csv"), Path::new("a.csv"));
        assert_eq!(resolve("<stdin>", "a.csv"), Path::new("a.csv"));
        assert_eq!(resolve("dir/x.toml", "/abs/a.csv"), Path::new("/abs/a.csv"));
    }
}
