#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The GPU-class table, the time model, envelopes, sizing and the cpu-reference calibration.
//! No timing asserts here: speed is measured by benches.

use std::collections::BTreeMap;

use challenges::matmul;
use challenges::membw;
use verifier::classes::{
    self, ClassError, ClassKind, ClassTable, CpuRates, GpuClass, SizeLimit, normalize_driver_name,
    sizing,
};

fn table() -> ClassTable {
    ClassTable::embedded().expect("the embedded class table parses")
}

/// Single-thread rates of the order `calibrate_cpu_reference` measured on the 2-core
/// development machine in the test profile (rounded), so sizing tests need no calibration run.
fn typical_cpu_rates() -> CpuRates {
    CpuRates {
        prf_fill_blocks_per_s: 3.6e7,
        gemm_ops_per_s: 2.6e9,
        hash_bytes_per_s: 0.9e9,
        membw_fill_blocks_per_s: 3.5e7,
        membw_pass_bytes_per_s: 1.0e9,
    }
}

/// Every class with rates: GPU classes as they are, cpu-reference with typical rates.
fn ready_classes() -> Vec<GpuClass> {
    table()
        .classes()
        .iter()
        .map(|c| match c.kind() {
            ClassKind::Gpu => c.clone(),
            ClassKind::Cpu => c.with_cpu_rates(typical_cpu_rates()).unwrap(),
        })
        .collect()
}

#[test]
fn embedded_table_parses_and_every_class_is_sane() {
    let t = table();
    let ids: Vec<&str> = t.classes().iter().map(GpuClass::id).collect();
    for want in [
        "h100-sxm",
        "h100-pcie",
        "h200",
        "a100-80gb-sxm",
        "a100-40gb",
        "l40s",
        "rtx-4090",
        "rtx-3090",
        "rtx-a6000",
        "l4",
        "cpu-reference",
    ] {
        assert!(ids.contains(&want), "class {want} missing from {ids:?}");
    }
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for c in t.classes() {
        assert!(c.memory_bytes() >= 1 << 24, "{}", c.id());
        assert!(c.target_s() > 0.0 && c.target_s().is_finite());
        assert!(c.weight() >= 0.0 && c.weight().is_finite());
        assert!(c.peak_headroom() >= 1.0);
        assert!(c.membw_rounds() <= membw::MAX_ROUNDS);
        for w in [
            c.efficiency().tensor,
            c.efficiency().int,
            c.efficiency().dram,
        ] {
            assert!(0.0 < w.low && w.low <= w.nominal && w.nominal <= w.high && w.high <= 1.0);
        }
        for name in c.driver_names() {
            let key = normalize_driver_name(name);
            assert!(!key.is_empty());
            if let Some(other) = seen.insert(key, c.id().to_string()) {
                panic!("driver name {name} maps to {other} and {}", c.id());
            }
        }
        match c.kind() {
            ClassKind::Gpu => {
                let p = c.gpu_peaks().unwrap();
                for x in [
                    p.int8_ops_per_s,
                    p.dram_bytes_per_s,
                    p.int32_ops_per_s,
                    p.philox_blocks_per_s,
                    p.blake3_bytes_per_s,
                ] {
                    assert!(x.is_finite() && x > 0.0, "{}", c.id());
                }
                assert!((1.0..=10.0).contains(&c.target_s()));
                assert!(c.has_rates());
            }
            ClassKind::Cpu => {
                assert!(c.target_s() < 1.0, "cpu-reference must target under 1 s");
                assert!(!c.has_rates(), "cpu rates come from calibration only");
            }
        }
    }
    // The GPU classes' target is the default 3 s.
    assert_eq!(t.get("h100-sxm").unwrap().target_s(), 3.0);
}

#[test]
fn classify_maps_real_driver_strings() {
    let t = table();
    let cases = [
        ("NVIDIA H100 80GB HBM3", "h100-sxm"),
        ("NVIDIA H100 PCIe", "h100-pcie"),
        ("NVIDIA H200", "h200"),
        ("NVIDIA A100-SXM4-80GB", "a100-80gb-sxm"),
        ("NVIDIA A100-SXM4-40GB", "a100-40gb"),
        ("NVIDIA A100-PCIE-40GB", "a100-40gb"),
        ("A100-SXM4-40GB", "a100-40gb"), // older drivers drop the vendor prefix
        ("NVIDIA L40S", "l40s"),
        ("NVIDIA GeForce RTX 4090", "rtx-4090"),
        ("NVIDIA GeForce RTX 3090", "rtx-3090"),
        ("NVIDIA RTX A6000", "rtx-a6000"),
        ("NVIDIA L4", "l4"),
        ("cpu-reference", "cpu-reference"),
        ("  nvidia   geforce rtx 4090 ", "rtx-4090"),
    ];
    for (name, id) in cases {
        let got = t.classify(name).map(GpuClass::id);
        assert_eq!(got, Some(id), "{name}");
    }
}

#[test]
fn classify_never_guesses() {
    let t = table();
    for name in [
        "",
        "H100",
        "NVIDIA H800",
        "NVIDIA H100 NVL",
        "NVIDIA H200 NVL",
        "NVIDIA GeForce RTX 3090 Ti",
        "NVIDIA A100 80GB PCIe",
        "NVIDIA L40",
    ] {
        assert!(t.classify(name).is_none(), "{name} must be unclassified");
    }
}

/// docs/design.md §`membw` v2: R per class is the least value making regeneration ≥ 10× dearer than
/// reading at the claimed class's bandwidth, on the fastest integer silicon among the GPU
/// classes with less memory than the class's sized `membw` buffer (and the class itself):
/// `(R+1) · bandwidth / (16 · Philox blocks/s) ≥ 10` (Philox = int32 / 40 without a measured
/// override, i.e. `R + 1 ≥ 4 · int32 / bandwidth`), a card's Philox rate taken at its
/// `peak_headroom` (the table's bound on how fast a card of the class can be; the choice is
/// documented in `classes.toml`). Computed from the table, never hard-coded.
/// The fastest Philox rate a card of `class` can have: its peak times its headroom.
fn fastest_philox(class: &GpuClass) -> f64 {
    class.gpu_peaks().unwrap().philox_blocks_per_s * class.peak_headroom()
}

#[test]
fn membw_rounds_are_the_least_meeting_ten_to_one_on_the_cheaters_best_card() {
    let t = table();
    for c in t.classes() {
        let Some(p) = c.gpu_peaks() else { continue };
        let v = classes::size_membw(c, c.target_s()).unwrap().params.bytes;
        let best = t
            .classes()
            .iter()
            .filter(|o| o.kind() == ClassKind::Gpu && (o.memory_bytes() < v || o.id() == c.id()))
            .max_by(|a, b| fastest_philox(a).total_cmp(&fastest_philox(b)))
            .unwrap();
        let philox = fastest_philox(best);
        let ratio = |r: u32| (f64::from(r) + 1.0) * p.dram_bytes_per_s / (16.0 * philox);
        let r = c.membw_rounds();
        assert!(r <= membw::MAX_ROUNDS, "{}", c.id());
        assert!(
            ratio(r) >= 10.0,
            "{}: R = {r} gives {} against {}",
            c.id(),
            ratio(r),
            best.id()
        );
        assert!(
            r == 0 || ratio(r - 1) < 10.0,
            "{}: R = {r} is more than the rule needs (cheater's best card {})",
            c.id(),
            best.id()
        );
        // The sizer's R is the class's or a little more, never less.
        let sized = classes::size_membw(c, c.target_s()).unwrap().params.rounds;
        assert!(sized >= r, "{}", c.id());
        eprintln!(
            "{:14} V = {:6.1} GB, cheater's best card {:14} R = {r}",
            c.id(),
            v as f64 / 1e9,
            best.id()
        );
    }
}

#[test]
fn expected_time_sums_every_phase() {
    let t = table();
    let h100 = t.get("h100-sxm").unwrap();
    let p = matmul::MatmulParams {
        m: 4096,
        n: 4096,
        k: 4096,
        count: 4,
    };
    let e = classes::expected_time(h100, &matmul::work(&p)).unwrap();
    let names: Vec<&str> = e.phases.iter().map(|p| p.name).collect();
    assert_eq!(names, ["prf-fill", "gemm", "relayout", "hash"]);
    assert!(e.phases.iter().all(|p| p.seconds > 0.0));
    let sum: f64 = e.phases.iter().map(|p| p.seconds).sum();
    assert!((sum - e.seconds).abs() <= 1e-12 * e.seconds);
    let gemm = e.phases[1].seconds;
    assert!(e.seconds > gemm * 1.01, "non-GEMM phases count: {e:?}");
}

#[test]
fn sizing_is_valid_fits_memory_and_hits_the_target() {
    for c in ready_classes() {
        let target = c.target_s();
        let mem = c.memory_bytes() as f64;

        let m = classes::size_matmul(&c, target).unwrap();
        m.params.validate().unwrap();
        assert_eq!(m.held_bytes, classes::matmul_held_bytes(&m.params));
        assert!(
            m.held_bytes as f64 <= mem * classes::MATMUL_MEMORY_FRACTION,
            "{}",
            c.id()
        );
        assert!(m.params.count >= sizing::MATMUL_MIN_PRODUCTS);
        assert!(m.params.k >= sizing::MATMUL_MIN_K);
        let rel = (m.expected.seconds - target) / target;
        match m.limit {
            None => assert!(rel.abs() <= 0.03, "{}: matmul {m:?}", c.id()),
            Some(SizeLimit::Memory) => {
                // Capped by memory: the most work that fits, below the target.
                assert!(rel < 0.0);
                assert_eq!(m.params.k, matmul::MAX_K, "{}", c.id());
                let one_more = matmul::MatmulParams {
                    count: m.params.count + 1,
                    ..m.params
                };
                let held = classes::matmul_held_bytes(&one_more) as f64;
                assert!(held > mem * classes::MATMUL_MEMORY_FRACTION, "{}", c.id());
            }
            Some(other) => panic!("{}: unexpected matmul limit {other:?}", c.id()),
        }

        let b = classes::size_membw(&c, target).unwrap();
        b.params.validate().unwrap();
        // R is the class's, or a little more where the target falls between two pass counts.
        assert!(b.params.rounds >= c.membw_rounds());
        assert!(
            b.params.rounds <= c.membw_rounds() * 2 + 8,
            "{}: {b:?}",
            c.id()
        );
        assert!(
            b.params.bytes as f64 >= mem * classes::MEMBW_MIN_FRACTION,
            "{}",
            c.id()
        );
        assert!(
            b.held_bytes as f64 <= mem * classes::MEMBW_MEMORY_FRACTION,
            "{}",
            c.id()
        );
        assert_eq!(b.held_bytes, classes::membw_held_bytes(&b.params));
        let rel = (b.expected.seconds - target) / target;
        assert_eq!(b.limit, None, "{}: membw {b:?}", c.id());
        assert!(rel.abs() <= 0.03, "{}: membw {b:?}", c.id());

        eprintln!(
            "{:14} matmul {:>5}x{:<5} k={:<5} T={:<4} {:6.3}s held {:5.1}% {:?} | membw V={:5.1}% g={:<6} R={:<3} P={:<3} {:6.3}s held {:5.1}%",
            c.id(),
            m.params.m,
            m.params.n,
            m.params.k,
            m.params.count,
            m.expected.seconds,
            100.0 * m.held_bytes as f64 / mem,
            m.limit,
            100.0 * b.params.bytes as f64 / mem,
            b.params.group,
            b.params.rounds,
            b.params.passes,
            b.expected.seconds,
            100.0 * b.held_bytes as f64 / mem,
        );
    }
}

#[test]
fn envelopes_are_ordered_for_every_class_and_module() {
    for c in ready_classes() {
        let m = classes::size_matmul(&c, c.target_s()).unwrap();
        let b = classes::size_membw(&c, c.target_s()).unwrap();
        let r = classes::size_rented(&c, sizing::RENTED_TARGET_S).unwrap();
        for (what, work, expected) in [
            ("matmul", &m.work, m.expected.seconds),
            ("membw", &b.work, b.expected.seconds),
            ("rented", &r.work, r.expected.seconds),
        ] {
            let env = classes::envelope(&c, work).unwrap();
            env.validate().unwrap();
            assert!(env.peak_floor_s > 0.0, "{} {what}", c.id());
            assert!(
                env.peak_floor_s <= env.min_s && env.min_s <= expected && expected <= env.max_s,
                "{} {what}: {env:?} expected {expected}",
                c.id()
            );
            // The floor is a physical bound: well below the expected time.
            assert!(env.peak_floor_s < expected, "{} {what}", c.id());
        }
        let rented = classes::rented_envelope(&c, &r.work).unwrap();
        rented.validate().unwrap();
        assert!(rented.max_s > classes::envelope(&c, &r.work).unwrap().max_s);
    }
}

#[test]
fn too_fast_floor_ignores_the_window() {
    // Same class with a very different window: the floor must not move, max_s must.
    let text = classes::EMBEDDED_TOML.replace(
        "efficiency.tensor = [0.56, 0.7, 0.95] # shared basis (header)\nefficiency.int = [0.20, 0.45, 0.90] # shared basis (header)\nefficiency.dram = [0.722, 0.85, 0.97] # shared basis; ≈ 3.0 TB/s",
        "efficiency.tensor = [0.10, 0.20, 0.30]\nefficiency.int = [0.10, 0.20, 0.30]\nefficiency.dram = [0.10, 0.20, 0.30] # ≈ 3.0 TB/s",
    );
    assert_ne!(text, classes::EMBEDDED_TOML, "the replacement must apply");
    let slow = ClassTable::from_toml(&text).unwrap();
    let (a, b) = (table(), slow);
    let (a, b) = (a.get("h100-sxm").unwrap(), b.get("h100-sxm").unwrap());
    for work in [
        matmul::work(&matmul::MatmulParams {
            m: 8192,
            n: 8192,
            k: 16384,
            count: 16,
        }),
        membw::work(&membw::MembwParams {
            bytes: 1 << 34,
            group: 4096,
            rounds: 39,
            passes: 8,
        }),
    ] {
        let (ea, eb) = (
            classes::envelope(a, &work).unwrap(),
            classes::envelope(b, &work).unwrap(),
        );
        assert_eq!(ea.peak_floor_s, eb.peak_floor_s);
        assert!(eb.max_s > ea.max_s);
    }
}

#[test]
fn rented_challenge_is_small_exact_work_with_openings() {
    for c in ready_classes() {
        let r = classes::size_rented(&c, sizing::RENTED_TARGET_S).unwrap();
        r.params.validate().unwrap();
        assert_eq!(r.params.k, sizing::MATMUL_MIN_K);
        let cap = (sizing::RENTED_MEMORY_CAP as f64)
            .min(c.memory_bytes() as f64 * sizing::RENTED_MEMORY_FRACTION);
        assert!(r.held_bytes as f64 <= cap, "{}", c.id());
        assert!(r.params.tiles_per_product() * u64::from(r.params.count) >= 1);
        assert!(
            r.expected.seconds <= sizing::RENTED_TARGET_S * 1.5,
            "{}: {r:?}",
            c.id()
        );
    }
}

#[test]
fn uncalibrated_cpu_class_cannot_be_sized_or_judged() {
    let t = table();
    let cpu = t.get("cpu-reference").unwrap();
    let w = matmul::work(&matmul::MatmulParams {
        m: 64,
        n: 64,
        k: 64,
        count: 1,
    });
    for err in [
        classes::envelope(cpu, &w).unwrap_err(),
        classes::size_matmul(cpu, 0.5).unwrap_err(),
        classes::size_membw(cpu, 0.5).unwrap_err(),
    ] {
        assert!(matches!(err, ClassError::Uncalibrated { .. }), "{err}");
        assert!(err.to_string().contains("calibrate_cpu_reference"));
    }
    let l4 = t.get("l4").unwrap();
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            classes::size_matmul(l4, bad),
            Err(ClassError::BadTarget(_))
        ));
    }
}

fn expect_field_error(text: &str, class_part: &str, field: &str) {
    assert_ne!(
        text,
        classes::EMBEDDED_TOML,
        "the edit meant to break `{field}` of {class_part} did not apply"
    );
    let Err(err) = ClassTable::from_toml(text) else {
        panic!("a table with a bad `{field}` of {class_part} must fail");
    };
    let msg = err.to_string();
    assert!(msg.contains(field), "{msg} should name `{field}`");
    assert!(msg.contains(class_part), "{msg} should name {class_part}");
}

#[test]
fn bad_toml_names_the_class_and_field() {
    let base = classes::EMBEDDED_TOML;
    // A missing field.
    let text = base.replacen("int8_tops = 1513.0", "", 1);
    expect_field_error(&text, "h100-pcie", "int8_tops");
    // A wrong type.
    let text = base.replacen("memory_gbs = 300.0", "memory_gbs = \"fast\"", 1);
    expect_field_error(&text, "`l4`", "memory_gbs");
    // A window out of order.
    let text = base.replacen(
        "efficiency.tensor = [0.54, 0.65, 0.95] # consumer",
        "efficiency.tensor = [0.8, 0.65, 0.95] # consumer",
        1,
    );
    expect_field_error(&text, "rtx-4090", "efficiency.tensor");
    // A typo'd field.
    let text = base.replacen(
        "peak_headroom = 1.10 # workstation",
        "peak_headrom = 1.10 #",
        1,
    );
    expect_field_error(&text, "rtx-a6000", "peak_headrom");
    // Headroom below 1.
    let text = base.replacen(
        "peak_headroom = 1.15 # GeForce: boosts",
        "peak_headroom = 0.9 #",
        1,
    );
    expect_field_error(&text, "rtx-4090", "peak_headroom");
    // A driver name on two classes.
    let text = base.replacen(
        "driver_names = [\"NVIDIA L4\"]",
        "driver_names = [\"NVIDIA L4\", \"NVIDIA L40S\"]",
        1,
    );
    expect_field_error(&text, "`l4`", "driver_names");
    // Datasheet figures on the CPU class.
    let text = base.replacen(
        "membw_rounds = 1\n",
        "membw_rounds = 1\nint8_tops = 1.0\n",
        1,
    );
    expect_field_error(&text, "cpu-reference", "int8_tops");
    // R above the module's limit.
    let text = base.replacen("membw_rounds = 222", "membw_rounds = 5000", 1);
    assert_ne!(text, base, "the replacement must apply");
    expect_field_error(&text, "`l4`", "membw_rounds");
    // Schema and syntax.
    let err = ClassTable::from_toml(&base.replacen("schema = 1", "schema = 2", 1)).unwrap_err();
    assert!(err.to_string().contains("schema"), "{err}");
    let err = ClassTable::from_toml("schema = 1\n[[class]\n").unwrap_err();
    assert!(matches!(err, ClassError::Syntax(_)), "{err}");
}

#[test]
fn load_reads_a_file_and_says_which_path_failed() {
    let dir = std::env::temp_dir().join(format!("gpuproof-classes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("classes.toml");
    std::fs::write(&path, classes::EMBEDDED_TOML).unwrap();
    let loaded = ClassTable::load(&path).unwrap();
    assert_eq!(loaded, table());
    std::fs::remove_file(&path).unwrap();
    let err = ClassTable::load(&path).unwrap_err();
    assert!(matches!(err, ClassError::Io { .. }));
    assert!(err.to_string().contains("classes.toml"), "{err}");
    std::fs::remove_dir(&dir).unwrap();
}

#[test]
fn calibration_yields_positive_finite_rates_usable_by_the_model() {
    let t = table();
    let base = t.get("cpu-reference").unwrap();
    let cal = classes::calibrate_cpu_reference(base).unwrap();
    assert!(cal.rates.is_valid(), "{:?}", cal.rates);
    assert_eq!(cal.class.cpu_rates(), Some(&cal.rates));
    eprintln!("calibration took {:?}: {:?}", cal.elapsed, cal.rates);
    // The calibrated class works everywhere the GPU classes do.
    let t = t.with_class(cal.class.clone()).unwrap();
    let cpu = t.classify("cpu-reference").unwrap();
    let m = classes::size_matmul(cpu, cpu.target_s()).unwrap();
    m.params.validate().unwrap();
    classes::envelope(cpu, &m.work).unwrap().validate().unwrap();
    let b = classes::size_membw(cpu, cpu.target_s()).unwrap();
    b.params.validate().unwrap();
    classes::envelope(cpu, &b.work).unwrap().validate().unwrap();
    // A GPU class cannot be calibrated.
    assert!(classes::calibrate_cpu_reference(t.get("l4").unwrap()).is_err());
}

#[test]
fn every_class_plans_both_modules_full_and_rented_with_layouts_the_verifier_accepts() {
    use builtin_modules::{MATMUL_I8, MEMBW};
    use protocol::ModuleHash;
    use verifier::client::Planner;
    use verifier::planner::ClassPlanner;
    use verifier::session::OutputLayout;
    // A plan the verifier cannot lay out is a verifier error on every challenge of that class:
    // its devices could never pass (the h100-sxm plan had 281 products against a 256-root cap).
    let cpu = ready_classes()
        .into_iter()
        .find(|c| c.kind() == ClassKind::Cpu)
        .unwrap();
    let planner = ClassPlanner::new(table()).with_cpu_class(cpu);
    for class in table().classes() {
        let name = class.driver_names().first().unwrap().clone();
        let gpu = protocol::GpuInfo {
            index: 0,
            name,
            uuid: "GPU-test".into(),
            memory_bytes: class.memory_bytes(),
            pci_bus_id: String::new(),
            pcie_gen: None,
            pcie_width: None,
        };
        for module in [MATMUL_I8, MEMBW] {
            for rented in [false, true] {
                let planned = planner.plan(&gpu, module, rented).unwrap_or_else(|e| {
                    panic!("{} {} rented={rented}: {e}", class.id(), module.name)
                });
                OutputLayout::builtin(&ModuleHash::new(module.hash()), &planned.params)
                    .unwrap_or_else(|e| {
                        panic!("{} {} rented={rented}: {e}", class.id(), module.name)
                    });
            }
        }
    }
}

#[test]
fn a_rented_machines_membw_is_small_one_pass_and_at_least_a_gib_where_the_class_has_it() {
    for c in ready_classes() {
        let s = classes::size_rented_membw(&c).unwrap();
        s.params.validate().unwrap();
        assert_eq!(s.params.passes, 1, "{}", c.id());
        assert_eq!(s.params.rounds, c.membw_rounds(), "{}", c.id());
        let gib = classes::RENTED_MEMBW_BYTES;
        if c.memory_bytes() as f64 * sizing::MEMBW_MIN_FRACTION >= gib as f64 {
            assert_eq!(s.params.bytes, gib, "{}", c.id());
        } else {
            assert!(s.params.bytes <= c.memory_bytes(), "{}", c.id());
        }
    }
}
