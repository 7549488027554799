//! The policy study's quick set: its shape, and what the literature finds
//! for a heterogeneous pool at high load.

use rserpool::sim::study::{self, Point, PolicyKind, Scenario, StudyConfig, CSV_HEADER};

fn heterogeneous(policy: PolicyKind, load: f64) -> Point {
    Point {
        scenario: Scenario::Heterogeneous,
        policy,
        users_per_pe: 3,
        load,
    }
}

#[test]
fn least_used_beats_round_robin_on_handling_speed_in_a_heterogeneous_pool_at_high_load() {
    let config = StudyConfig::quick();
    for &seed in &config.seeds {
        let rr = study::run_one(&config, &heterogeneous(PolicyKind::RoundRobin, 0.8), seed);
        let lu = study::run_one(&config, &heterogeneous(PolicyKind::LeastUsed, 0.8), seed);
        assert!(rr.completed > 100 && lu.completed > 100, "{rr:?} {lu:?}");
        assert!(
            lu.handling_speed > rr.handling_speed,
            "seed {seed}: LU {lu:?} RR {rr:?}"
        );
        // LU keeps the PEs evenly busy; RR gives the slow PEs as many
        // jobs as the fast ones.
        assert!(
            lu.fairness > rr.fairness,
            "seed {seed}: LU {lu:?} RR {rr:?}"
        );
        // ... so the fast third does more than its count's share of the
        // work under LU.
        assert!(lu.preferred_share > 0.45, "seed {seed}: {lu:?}");
    }
}

#[test]
fn the_quick_set_has_every_point_and_writes_a_csv_row_for_each() {
    let mut config = StudyConfig::quick();
    config.seeds = vec![1, 2];
    config.policies = vec![
        PolicyKind::RoundRobin,
        PolicyKind::WeightedRandom,
        PolicyKind::LeastUsedDpf,
    ];
    let rows = study::run(&config, |_| {});
    // RR and WRAND in both scenarios, LU-DPF in the distance one, at two
    // loads each.
    assert_eq!(rows.len(), (2 * 2 + 1) * 2);
    assert_eq!(
        rows.iter().map(|r| r.point).collect::<Vec<_>>(),
        config.points()
    );
    for r in &rows {
        assert_eq!(r.seeds, 2);
        assert!(r.completed > 0, "{r:?}");
        assert!(r.handling_speed.mean > 0.0, "{r:?}");
        assert!(
            r.fairness.mean > 0.0 && r.fairness.mean <= 1.0 + 1e-9,
            "{r:?}"
        );
        // The PEs do about the work offered (the users' queues grow at
        // worst by what is still running at the end).
        assert!(
            r.utilisation.mean > r.point.load * 0.6 && r.utilisation.mean < r.point.load * 1.2,
            "{r:?}"
        );
    }
    let csv = study::csv(&rows);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(CSV_HEADER));
    assert_eq!(lines.count(), rows.len());
    assert!(csv.contains("\ndistance,LU-DPF,3,0.80,2,"), "{csv}");
}

#[test]
fn a_study_run_is_reproducible() {
    let config = StudyConfig::quick();
    let p = Point {
        scenario: Scenario::Distance,
        policy: PolicyKind::LeastUsedDpf,
        users_per_pe: 3,
        load: 0.5,
    };
    assert_eq!(
        study::run_one(&config, &p, 9),
        study::run_one(&config, &p, 9)
    );
}
