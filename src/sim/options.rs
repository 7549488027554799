//! A scenario's parameters, and their command-line form
//! (`examples/simulate.rs`).

use std::string::{String, ToString};
use std::vec::Vec;

use crate::policy::Policy;
use crate::time::{Duration, Instant};

use super::net::NetConfig;

/// Which timer defaults the machines use (SPEC §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Profile {
    /// RFC 5352 / RFC 5353 defaults.
    #[default]
    Rfc,
    /// rsplib's defaults.
    Rsplib,
}

/// A node to crash or restart at a time; nodes are numbered from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeAt {
    /// The node's number (1 = the first).
    pub number: usize,
    /// When.
    pub at: Instant,
}

/// A partition between groups of registrars (numbered from 1) from one time
/// to another; PEs and PUs reach every side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionSpec {
    /// The groups of registrar numbers.
    pub groups: Vec<Vec<usize>>,
    /// When the cut starts.
    pub from: Instant,
    /// When it heals.
    pub until: Instant,
}

/// Everything a scenario is made of. [`Options::default`] is a small
/// healthy pool.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// The seed of every random choice.
    pub seed: u64,
    /// Registrars.
    pub registrars: usize,
    /// Pool elements (all in one pool).
    pub elements: usize,
    /// Pool users.
    pub users: usize,
    /// The pool's selection policy type (RFC 5356 / rsplib numbering).
    pub policy_type: u32,
    /// How long to run.
    pub duration: Duration,
    /// The network.
    pub net: NetConfig,
    /// Timer defaults.
    pub profile: Profile,
    /// Requests per second per pool user.
    pub rate: f64,
    /// How long a PE takes to answer a request.
    pub service_time: Duration,
    /// How long a PU waits for an answer before it fails over.
    pub request_timeout: Duration,
    /// No new requests during this final stretch, so that those in flight
    /// can finish before the run is judged.
    pub drain: Duration,
    /// No requests before this (the PEs register meanwhile).
    pub warmup: Duration,
    /// A PE sends its user a COOKIE every this many requests of a session
    /// (0: never).
    pub cookie_every: u32,
    /// Requests a pool user sends on one session before it opens a new
    /// one (a fresh PE selection; 0: one session for the whole run).
    pub session_requests: u32,
    /// Sessions a pool user's requests take turns on.
    pub sessions: usize,
    /// The most PEs a registrar can hold (`None`: as many as memory allows).
    pub registrar_capacity: Option<usize>,
    /// PEs and PUs find registrars by SERVER_ANNOUNCE instead of a
    /// configured list; with [`enrp`](Self::enrp), registrars find each
    /// other by multicast PRESENCE instead of a configured peer list.
    pub multicast: bool,
    /// The registrars speak ENRP to each other (each is configured with all
    /// the others as static peers, or finds them by multicast) and the
    /// handlespace check demands that they share one handlespace.
    pub enrp: bool,
    /// The pool users reach registrars and PEs as over UDP: their
    /// associations are reported unverified
    /// ([`World::set_unverified`](super::World::set_unverified)), so a
    /// registrar challenges them before a large answer (see the
    /// [registrar](crate::registrar)'s "Return routability").
    pub udp_users: bool,
    /// PE crashes.
    pub kill_elements: Vec<NodeAt>,
    /// PE restarts.
    pub restart_elements: Vec<NodeAt>,
    /// Registrar crashes.
    pub kill_registrars: Vec<NodeAt>,
    /// Registrar restarts.
    pub restart_registrars: Vec<NodeAt>,
    /// Registrars that start late (join the running pool) instead of at 0.
    pub join_registrars: Vec<NodeAt>,
    /// Registrar 1 starts holding this many PEs of a silent peer (pool
    /// `"preload"`), so that a joining registrar has a large handlespace to
    /// download without as many PE nodes. Only registrars that download
    /// registrar 1's handlespace learn of them (an audit covers a peer's own
    /// PEs only): the other registrars should join later.
    pub preload: usize,
    /// Partitions between registrars.
    pub partitions: Vec<PartitionSpec>,
    /// Check the handlespace every this often and report when it changes
    /// (`simulate` prints the changes).
    pub sample: Option<Duration>,
    /// Write the event log.
    pub verbose: bool,
    /// Print the counters before the summary.
    pub stats: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seed: 1,
            registrars: 1,
            elements: 10,
            users: 5,
            policy_type: Policy::RoundRobin.policy_type(),
            duration: Duration::from_secs(600),
            net: NetConfig::default(),
            profile: Profile::Rfc,
            rate: 1.0,
            service_time: Duration::from_millis(100),
            request_timeout: Duration::from_secs(2),
            drain: Duration::from_secs(30),
            warmup: Duration::from_secs(5),
            cookie_every: 5,
            session_requests: 10,
            sessions: 3,
            registrar_capacity: None,
            multicast: false,
            udp_users: false,
            enrp: false,
            kill_elements: Vec::new(),
            restart_elements: Vec::new(),
            kill_registrars: Vec::new(),
            restart_registrars: Vec::new(),
            join_registrars: Vec::new(),
            preload: 0,
            partitions: Vec::new(),
            sample: None,
            verbose: false,
            stats: false,
        }
    }
}

/// The command-line help.
pub const USAGE: &str = "\
usage: simulate [FLAGS]
  --registrars N          registrars (default 1)
  --elements N            pool elements (default 10)
  --users N               pool users (default 5)
  --policy NAME           rr, wrr, rand, wrand, prio, lu, lud, plu, rlu, ... (default rr)
  --seconds S             simulated seconds (default 600)
  --seed N                seed of every random choice (default 1)
  --profile rfc|rsplib    timer defaults (default rfc)
  --rate R                requests per second per user (default 1)
  --service-ms MS         a PE's service time (default 100)
  --timeout-ms MS         a PU's request timeout before failover (default 2000)
  --drain-seconds S       no new requests in the last S seconds (default 30)
  --cookie-every N        a PE sends a COOKIE every N requests of a session (default 5, 0 = never)
  --session-requests N    requests per pool user session (default 10, 0 = one session)
  --sessions N            sessions a pool user's requests take turns on (default 3)
  --capacity N            PEs a registrar can hold (default unlimited)
  --multicast             find registrars by SERVER_ANNOUNCE, not a configured list
                          (with --enrp: registrars find each other by multicast PRESENCE)
  --udp-users             pool users' associations are unverified, as over UDP
  --enrp                  registrars share the handlespace by ENRP (static peers)
  --delay-ms MS           one-way delay (default 5)
  --jitter-ms MS          extra random delay up to MS (default 1)
  --loss P                loss probability (default 0)
  --dup P                 datagram duplication probability (default 0)
  --reorder P             datagram reordering probability (default 0)
  --detect-ms MS          time for peers to notice a crash (default 5000)
  --kill-element ID@T     crash PE number ID (from 1) at T seconds (repeatable)
  --restart-element ID@T  restart PE number ID at T seconds (repeatable)
  --kill-registrar ID@T   crash registrar number ID at T seconds (repeatable)
  --restart-registrar ID@T restart registrar number ID at T seconds (repeatable)
  --join-registrar ID@T   registrar ID starts at T seconds instead of 0 (repeatable)
  --preload N             registrar 1 starts with N PEs of a silent peer (pool \"preload\")
  --partition A,B|C@T1-T2 cut registrars A,B off from C from T1 to T2 seconds (repeatable)
  --sample-ms MS          check the handlespace every MS and print when the strict check changes
  --stats                 print the run's counters before the summary
  --verbose               print the event log
";

fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{flag}: not a valid number: {v:?}"))
}

fn probability(flag: &str, v: &str) -> Result<f64, String> {
    let p: f64 = number(flag, v)?;
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("{flag}: not a probability: {v}"))
    }
}

fn seconds(flag: &str, v: &str) -> Result<Duration, String> {
    let s: f64 = number(flag, v)?;
    if s.is_finite() && s >= 0.0 {
        Ok(Duration::from_micros((s * 1e6) as u64))
    } else {
        Err(format!("{flag}: not a time: {v}"))
    }
}

fn node_at(flag: &str, v: &str) -> Result<NodeAt, String> {
    let (id, t) = v
        .split_once('@')
        .ok_or_else(|| format!("{flag}: expected ID@SECONDS, got {v:?}"))?;
    let number: usize = number(flag, id)?;
    if number == 0 {
        return Err(format!("{flag}: nodes are numbered from 1"));
    }
    Ok(NodeAt {
        number,
        at: Instant::ZERO + seconds(flag, t)?,
    })
}

fn partition(flag: &str, v: &str) -> Result<PartitionSpec, String> {
    let bad = || format!("{flag}: expected A,B|C@T1-T2, got {v:?}");
    let (groups, times) = v.split_once('@').ok_or_else(bad)?;
    let (t1, t2) = times.split_once('-').ok_or_else(bad)?;
    let groups = groups
        .split('|')
        .map(|g| {
            g.split(',')
                .map(|n| match number::<usize>(flag, n)? {
                    0 => Err(format!("{flag}: registrars are numbered from 1")),
                    n => Ok(n),
                })
                .collect::<Result<Vec<usize>, String>>()
        })
        .collect::<Result<Vec<_>, String>>()?;
    if groups.len() < 2 {
        return Err(bad());
    }
    let from = Instant::ZERO + seconds(flag, t1)?;
    let until = Instant::ZERO + seconds(flag, t2)?;
    if until <= from {
        return Err(format!("{flag}: the cut must end after it starts"));
    }
    Ok(PartitionSpec {
        groups,
        from,
        until,
    })
}

impl Options {
    /// Parses command-line flags (without the program name).
    pub fn parse<I, S>(args: I) -> Result<Options, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut o = Options::default();
        let args: Vec<String> = args.into_iter().map(|s| s.as_ref().to_string()).collect();
        let mut i = 0;
        while i < args.len() {
            let flag = args[i].as_str();
            i += 1;
            match flag {
                "--verbose" | "-v" => {
                    o.verbose = true;
                    continue;
                }
                "--stats" => {
                    o.stats = true;
                    continue;
                }
                "--multicast" => {
                    o.multicast = true;
                    continue;
                }
                "--enrp" => {
                    o.enrp = true;
                    continue;
                }
                "--udp-users" => {
                    o.udp_users = true;
                    continue;
                }
                "--help" | "-h" => return Err(USAGE.into()),
                _ => {}
            }
            let v = args
                .get(i)
                .ok_or_else(|| format!("{flag}: missing value\n{USAGE}"))?
                .as_str();
            i += 1;
            match flag {
                "--registrars" => o.registrars = number(flag, v)?,
                "--elements" => o.elements = number(flag, v)?,
                "--users" => o.users = number(flag, v)?,
                "--policy" => {
                    o.policy_type = Policy::type_from_short_name(v)
                        .ok_or_else(|| format!("{flag}: unknown policy {v:?}"))?;
                }
                "--seconds" => o.duration = seconds(flag, v)?,
                "--seed" => o.seed = number(flag, v)?,
                "--profile" => {
                    o.profile = match v {
                        "rfc" => Profile::Rfc,
                        "rsplib" => Profile::Rsplib,
                        _ => return Err(format!("{flag}: rfc or rsplib, not {v:?}")),
                    }
                }
                "--rate" => {
                    o.rate = number(flag, v)?;
                    if !(o.rate.is_finite() && o.rate >= 0.0) {
                        return Err(format!("{flag}: not a rate: {v}"));
                    }
                }
                "--service-ms" => o.service_time = Duration::from_millis(number(flag, v)?),
                "--timeout-ms" => o.request_timeout = Duration::from_millis(number(flag, v)?),
                "--drain-seconds" => o.drain = seconds(flag, v)?,
                "--cookie-every" => o.cookie_every = number(flag, v)?,
                "--session-requests" => o.session_requests = number(flag, v)?,
                "--sessions" => o.sessions = number(flag, v)?,
                "--capacity" => o.registrar_capacity = Some(number(flag, v)?),
                "--delay-ms" => o.net.delay = Duration::from_millis(number(flag, v)?),
                "--jitter-ms" => o.net.jitter = Duration::from_millis(number(flag, v)?),
                "--detect-ms" => o.net.failure_detection = Duration::from_millis(number(flag, v)?),
                "--loss" => o.net.loss = probability(flag, v)?,
                "--dup" => o.net.duplicate = probability(flag, v)?,
                "--reorder" => o.net.reorder = probability(flag, v)?,
                "--kill-element" => o.kill_elements.push(node_at(flag, v)?),
                "--restart-element" => o.restart_elements.push(node_at(flag, v)?),
                "--kill-registrar" => o.kill_registrars.push(node_at(flag, v)?),
                "--restart-registrar" => o.restart_registrars.push(node_at(flag, v)?),
                "--join-registrar" => o.join_registrars.push(node_at(flag, v)?),
                "--preload" => o.preload = number(flag, v)?,
                "--sample-ms" => o.sample = Some(Duration::from_millis(number(flag, v)?)),
                "--partition" => o.partitions.push(partition(flag, v)?),
                _ => return Err(format!("unknown flag {flag:?}\n{USAGE}")),
            }
        }
        o.validate()?;
        Ok(o)
    }

    /// Checks that the numbers fit together.
    pub fn validate(&self) -> Result<(), String> {
        if self.registrars > 200 {
            return Err("at most 200 registrars".into());
        }
        if self.elements > 60_000 || self.users > 60_000 {
            return Err("at most 60000 elements and 60000 users".into());
        }
        if self.sessions == 0 || self.sessions > 8 {
            return Err("--sessions: 1 to 8".into());
        }
        for (what, list, n) in [
            ("--kill-element", &self.kill_elements, self.elements),
            ("--restart-element", &self.restart_elements, self.elements),
            ("--kill-registrar", &self.kill_registrars, self.registrars),
            (
                "--restart-registrar",
                &self.restart_registrars,
                self.registrars,
            ),
            ("--join-registrar", &self.join_registrars, self.registrars),
        ] {
            if let Some(bad) = list.iter().find(|k| k.number > n) {
                return Err(format!("{what}: there is no number {}", bad.number));
            }
        }
        if self.preload > 200_000 {
            return Err("--preload: at most 200000".into());
        }
        if self.preload > 0
            && (self.registrars == 0 || self.join_registrars.iter().any(|j| j.number == 1))
        {
            return Err("--preload: needs registrar 1 from the start".into());
        }
        for p in &self.partitions {
            if let Some(&bad) = p.groups.iter().flatten().find(|&&n| n > self.registrars) {
                return Err(format!("--partition: there is no registrar {bad}"));
            }
        }
        Ok(())
    }

    /// The policy of PE number `index` (from 0): the pool's policy type,
    /// with weights and priorities 1-4 spread over the PEs and loads 0.
    pub fn policy_of(&self, index: usize) -> Policy {
        let n = Policy::parameter_count(self.policy_type).unwrap_or(0);
        let name = Policy::short_name_of(self.policy_type).to_ascii_lowercase();
        let v = if name.starts_with('w') || name == "prio" {
            1 + (index % 4) as u32
        } else {
            0
        };
        Policy::from_parameters(self.policy_type, &vec![v; n]).unwrap_or(Policy::RoundRobin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_flags() {
        let o = Options::parse([
            "--registrars",
            "2",
            "--elements",
            "10",
            "--users",
            "5",
            "--policy",
            "lu",
            "--seconds",
            "600",
            "--loss",
            "0.02",
            "--kill-element",
            "3@120",
            "--seed",
            "7",
            "--verbose",
        ])
        .unwrap();
        assert_eq!(o.registrars, 2);
        assert_eq!(o.policy_type, Policy::LeastUsed { load: 0 }.policy_type());
        assert_eq!(o.duration, Duration::from_secs(600));
        assert_eq!(o.net.loss, 0.02);
        assert_eq!(
            o.kill_elements,
            vec![NodeAt {
                number: 3,
                at: Instant::from_secs(120)
            }]
        );
        assert_eq!(o.seed, 7);
        assert!(o.verbose);
        assert!(Options::parse(["--kill-element", "11@5"]).is_err());
        assert!(Options::parse(["--kill-element", "0@5"]).is_err());
        assert!(Options::parse(["--loss", "2"]).is_err());
        assert!(Options::parse(["--policy", "nope"]).is_err());
        assert!(Options::parse(["--bogus", "1"]).is_err());
        assert!(Options::parse(["--seed"]).is_err());
        let p = Options::parse(["--registrars", "3", "--partition", "1,2|3@10-20.5"]).unwrap();
        assert_eq!(
            p.partitions,
            vec![PartitionSpec {
                groups: vec![vec![1, 2], vec![3]],
                from: Instant::from_secs(10),
                until: Instant::from_millis(20_500),
            }]
        );
        assert!(Options::parse(["--partition", "1|2@10-20"]).is_err());
        let e = Options::parse(["--registrars", "3", "--enrp", "--multicast"]).unwrap();
        assert!(e.enrp && e.multicast);
        assert!(!o.enrp);
        let j = Options::parse([
            "--registrars",
            "2",
            "--join-registrar",
            "2@30",
            "--preload",
            "5",
        ])
        .unwrap();
        assert_eq!(j.join_registrars[0].at, Instant::from_secs(30));
        assert_eq!(j.preload, 5);
        assert!(Options::parse(["--join-registrar", "2@30"]).is_err());
        assert!(Options::parse(["--registrars", "2", "--partition", "1,2@10-20"]).is_err());
        assert!(Options::parse(["--registrars", "2", "--partition", "1|2@20-10"]).is_err());
        assert_eq!(o.policy_of(3), Policy::LeastUsed { load: 0 });
        let w = Options::parse(["--policy", "wrr"]).unwrap();
        assert_eq!(w.policy_of(2), Policy::WeightedRoundRobin { weight: 3 });
    }
}
