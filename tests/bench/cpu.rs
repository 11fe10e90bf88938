//! CPU time per process, to show where a workload's bound lies: on a machine of two cores
//! shared by the server, the mount and the reader, a workload whose processes together use
//! both cores for its whole run is bound by CPU, and the bound is the CPU each byte costs.

use std::time::Instant;

/// User plus system CPU seconds `pid` has used so far (all its threads), or `None` when
/// it is gone.
pub fn seconds_of(pid: u32) -> Option<f64> {
    stat_seconds(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The same for this process (the benchmark: the reader or writer, the raw ceiling's client,
/// and pail-emulator when it is the server).
pub fn own_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| stat_seconds(&s))
        .unwrap_or(f64::NAN)
}

/// The unit of `/proc/*/stat` times: Linux reports them in USER_HZ, 100 per second on every
/// architecture it runs on (`sysconf(_SC_CLK_TCK)`).
const USER_HZ: f64 = 100.0;

fn stat_seconds(stat: &str) -> Option<f64> {
    // Fields after the command name (which may hold spaces), which ends at the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name and state.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / USER_HZ)
}

/// CPU seconds spent by the mount, the server and the benchmark over one measured span.
pub struct Span {
    start: Instant,
    pids: [Option<u32>; 2],
    before: [f64; 3],
}

impl Span {
    /// Starts a span over `mount` and `server` (either absent when it is this process or none).
    pub fn start(mount: Option<u32>, server: Option<u32>) -> Self {
        let pids = [mount, server];
        let at = |p: Option<u32>| p.and_then(seconds_of).unwrap_or(0.0);
        Self {
            start: Instant::now(),
            pids,
            before: [at(mount), at(server), own_seconds()],
        }
    }

    /// One line: CPU seconds per GiB moved of each process, and cores busy on average.
    pub fn report(&self, what: &str, bytes: u64) -> String {
        let wall = self.start.elapsed().as_secs_f64();
        let at = |p: Option<u32>| p.and_then(seconds_of).unwrap_or(0.0);
        let used = [
            at(self.pids[0]) - self.before[0],
            at(self.pids[1]) - self.before[1],
            own_seconds() - self.before[2],
        ];
        let gib = bytes as f64 / (1u64 << 30) as f64;
        format!(
            "cpu {what}: mount {:.2} s/GiB, server {:.2} s/GiB, benchmark {:.2} s/GiB; {:.2} cores busy over {wall:.2} s",
            used[0] / gib,
            used[1] / gib,
            used[2] / gib,
            used.iter().sum::<f64>() / wall
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_a_stat_line_whose_name_holds_spaces() {
        let line = "42 (a b) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 1 1 1";
        let secs = super::stat_seconds(line).expect("a stat line");
        assert!((secs - 3.0).abs() < 1e-9);
    }
}
