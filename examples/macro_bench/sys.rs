//! Process counters read from `/proc` (the crate forbids `unsafe`, so no `getrusage` call:
//! `/proc/self/stat` carries the same user + system CPU ticks for the whole process, every
//! thread included) and the machine description for BENCHMARKS.md.

use std::time::Duration;

/// User + system CPU time of this process so far.
pub fn cpu_time() -> Duration {
    cpu_time_of("self")
}

/// User + system CPU time of process `pid` (`"self"` for this one); zero once it is gone.
pub fn cpu_time_of(pid: &str) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // Fields after the command name (which may contain spaces) start at `state` (field 3);
    // utime and stime are fields 14 and 15.
    let Some((_, rest)) = stat.rsplit_once(") ") else {
        return Duration::ZERO;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let total = ticks(11) + ticks(12);
    Duration::from_secs_f64(total as f64 / clock_ticks() as f64)
}

/// CPU time of the calling thread so far, in nanoseconds (`/proc/thread-self/schedstat`, the
/// scheduler's own run time: no tick rounding, so a few milliseconds are measured exactly).
pub fn thread_cpu() -> Duration {
    schedstat("/proc/thread-self/schedstat")
}

/// This thread's id in `/proc/self/task` (from the `/proc/thread-self` link), so another thread
/// can read its CPU time with [`task_cpu`].
pub fn thread_id() -> Option<String> {
    std::fs::read_link("/proc/thread-self")
        .ok()?
        .file_name()?
        .to_str()
        .map(str::to_string)
}

/// CPU time so far of thread `tid` of this process (zero once it is gone).
pub fn task_cpu(tid: &str) -> Duration {
    schedstat(&format!("/proc/self/task/{tid}/schedstat"))
}

fn schedstat(path: &str) -> Duration {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// `CLK_TCK` from `getconf` (100 on every Linux we know of, the fallback).
fn clock_ticks() -> u64 {
    static TCK: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TCK.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|t| *t > 0)
            .unwrap_or(100)
    })
}

fn status_kb(field: &str) -> u64 {
    status_kb_of("self", field)
}

/// A `kB` field of `/proc/<pid>/status` (0 when the process or the field is gone).
pub fn status_kb_of(pid: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Peak resident set size so far (VmHWM), in MiB.
pub fn peak_rss_mib() -> f64 {
    status_kb("VmHWM:") as f64 / 1024.0
}

/// Current resident set size (VmRSS), in MiB.
pub fn rss_mib() -> f64 {
    status_kb("VmRSS:") as f64 / 1024.0
}

/// `nproc`, CPU model and memory, one line.
pub fn machine() -> String {
    // Every CPU of the machine, not only those this (possibly pinned) process may use.
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpus = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count()
        .max(1);
    let model = Some(cpuinfo)
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0);
    format!(
        "{cpus} CPUs ({model}), {:.1} GiB RAM",
        mem_kb as f64 / 1024.0 / 1024.0
    )
}

/// The CPUs this process may run on (`sched_getaffinity`, as `available_parallelism` reads it).
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Pin every thread of process `pid` to `cpu` with `taskset -a -p -c` (util-linux): the crate
/// forbids `unsafe`, so no `sched_setaffinity` call. Threads created afterwards inherit it.
pub fn pin(pid: u32, cpu: usize) -> anyhow::Result<()> {
    let out = std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", &cpu.to_string(), &pid.to_string()])
        .output()
        .map_err(|e| anyhow::anyhow!("running taskset: {e}"))?;
    if !out.status.success() {
        anyhow::bail!(
            "taskset -p -c {cpu} {pid}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Context switches (voluntary + involuntary) of this process's live threads; threads that
/// already exited are not counted, so differences are lower bounds.
pub fn context_switches() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum()
}
