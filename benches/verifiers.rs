//! Micro-benchmarks of the two key verifiers on a hit, with the benchmark's
//! full seed loaded (100,000 hub keys + 100,000 personal keys): the target
//! is ≤ 2 µs per hit. `bench/run.sh` runs this and reads the medians.
//!
//!   cargo bench --bench verifiers
use std::hint::black_box;
use std::net::IpAddr;

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use keyhub::auth::hub_verifier::HubVerifier;
use keyhub::auth::key_verifier::KeyVerifier;
use keyhub::bench_seed::{Counts, run};

fn verifiers(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let dir = tempfile::tempdir().expect("a temp dir");
    let settings = keyhub::Settings { data_dir: dir.path().to_path_buf(), ..Default::default() };
    let n = Counts { hub_keys: 100_000, personal_keys: 100_000, rows: 100 };
    let seeded = rt.block_on(run(settings.clone(), n)).expect("the bench seed");
    let db = rt.block_on(keyhub::store::connect(&settings)).expect("the seeded database");
    let hub = HubVerifier::new(db.clone(), std::time::Duration::from_secs(30));
    rt.block_on(hub.load_all()).expect("hub keys loaded");
    let keys = KeyVerifier::new(db, std::time::Duration::from_secs(30));
    rt.block_on(keys.reload()).expect("personal keys loaded");
    let ip: IpAddr = "127.0.0.1".parse().expect("an address");
    let now = Utc::now();
    assert!(hub.lookup(seeded.workspace_id, &seeded.hub_key, Some(ip), now).is_ok(), "the seeded hub key verifies");
    assert!(keys.verify(Some(&seeded.personal_key), now).is_ok(), "the seeded personal key verifies");

    // A hit: format check, one SHA-256, map lookup, status/expiry/3-row IP filter.
    c.bench_function("hub_verifier_hit", |b| {
        b.iter(|| hub.lookup(black_box(seeded.workspace_id), black_box(&seeded.hub_key), Some(ip), now).is_ok())
    });
    // A hit: format and checksum, one SHA-256, key and membership lookups.
    c.bench_function("personal_verifier_hit", |b| {
        b.iter(|| keys.verify(Some(black_box(&seeded.personal_key)), now).is_ok())
    });
}

criterion_group!(benches, verifiers);
criterion_main!(benches);
