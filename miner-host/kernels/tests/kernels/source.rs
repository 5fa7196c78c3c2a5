//! `SOURCE` is exactly the text the emulator tests compile, and `KERNELS` describes it.

use cuda_kernels::{KERNELS, ParamKind, SOURCE, SOURCE_FILES};

const LAUNCHERS: &str = include_str!("../../emu/launchers.cpp");

#[test]
fn source_is_the_files_in_launcher_include_order() {
    let concatenated: String = SOURCE_FILES.iter().map(|(_, text)| *text).collect();
    assert_eq!(SOURCE, concatenated);
    let included: Vec<&str> = LAUNCHERS
        .lines()
        .filter_map(|line| line.strip_prefix("#include \"../cuda/"))
        .filter_map(|rest| rest.strip_suffix('"'))
        .collect();
    let files: Vec<&str> = SOURCE_FILES.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        included, files,
        "emu/launchers.cpp must include the files of SOURCE, in order"
    );
    for (name, text) in SOURCE_FILES {
        assert!(
            text.ends_with('\n'),
            "{name} must end with a newline (files are concatenated)"
        );
        assert!(!text.contains('\t'), "{name}: no tabs");
    }
}

#[test]
fn only_the_emulator_header_is_included_and_only_off_the_gpu() {
    let includes: Vec<&str> = SOURCE
        .lines()
        .filter(|l| l.trim_start().starts_with("#include"))
        .collect();
    assert_eq!(includes, ["#include \"emu.h\""]);
    let guard = "#if !defined(__CUDACC_RTC__) && !defined(__CUDACC__)\n#include \"emu.h\"\n#endif";
    assert!(
        SOURCE.contains(guard),
        "emu.h must be included only when not under NVRTC/nvcc"
    );
}

/// `(name, [(c_type, param name)])` of every `extern "C" __global__` function in the text.
fn parse_kernels(source: &str) -> Vec<(String, Vec<(String, String)>)> {
    let marker = "extern \"C\" __global__ void";
    source
        .match_indices(marker)
        .map(|(at, _)| {
            let after = &source[at + marker.len()..];
            let mut header = after[..after.find('{').unwrap()].to_string();
            if let Some(i) = header.find("__launch_bounds__") {
                let close = i + header[i..].find(')').unwrap();
                header.replace_range(i..=close, "");
            }
            let open = header.find('(').unwrap();
            let close = header.rfind(')').unwrap();
            (
                header[..open].trim().to_string(),
                split_params(&header[open + 1..close]),
            )
        })
        .collect()
}

fn split_params(params: &str) -> Vec<(String, String)> {
    params
        .split(',')
        .map(|p| {
            let p = p.split_whitespace().collect::<Vec<_>>().join(" ");
            let cut = p.rfind([' ', '*']).unwrap();
            (
                p[..=cut].trim().to_string(),
                p[cut + 1..].trim().to_string(),
            )
        })
        .collect()
}

#[test]
fn kernel_specs_match_the_source_signatures() {
    let parsed = parse_kernels(SOURCE);
    let names: Vec<&str> = parsed.iter().map(|(n, _)| n.as_str()).collect();
    let spec_names: Vec<&str> = KERNELS.iter().map(|k| k.name).collect();
    assert_eq!(names, spec_names);
    for ((name, params), spec) in parsed.iter().zip(KERNELS.iter()) {
        let want: Vec<(String, String)> = spec
            .params
            .iter()
            .map(|p| (p.c_type.to_string(), p.name.to_string()))
            .collect();
        assert_eq!(params, &want, "parameters of {name}");
        for p in spec.params {
            let kind = match p.c_type {
                "u32" => ParamKind::U32,
                "u64" => ParamKind::U64,
                t if t.starts_with("const ") && t.ends_with('*') => ParamKind::ConstPtr,
                t if t.ends_with('*') => ParamKind::MutPtr,
                t => panic!("{name}: unexpected parameter type {t}"),
            };
            assert_eq!(kind, p.kind, "{name}.{}", p.name);
        }
        assert_eq!(cuda_kernels::kernel(name), Some(spec));
    }
    assert_eq!(cuda_kernels::kernel("nope"), None);
}

#[test]
fn other_file_lists_follow_source_order() {
    // emu/device-check concatenates the files itself; build.rs reruns when any of them changes.
    let check = include_str!("../../emu/device-check");
    let listed: String = SOURCE_FILES
        .iter()
        .map(|(name, _)| format!("cuda/{name}"))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        check.contains(&format!("cat {listed} >")),
        "emu/device-check must cat {listed}"
    );
    let build = include_str!("../../build.rs");
    for (name, _) in SOURCE_FILES {
        assert!(
            build.contains(&format!("\"cuda/{name}\"")),
            "build.rs must watch cuda/{name}"
        );
    }
}
