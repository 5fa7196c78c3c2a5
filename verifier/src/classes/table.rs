//! The class table: parsing and checking `classes.toml`, the class records, driver-name lookup.

use std::collections::BTreeMap;
use std::path::Path;

use toml::{Table, Value};

use super::ClassError;
use super::model::{BLAKE3_INSTR_PER_BYTE, PHILOX_INSTR_PER_BLOCK};

/// The class table compiled into the binary (`verifier/classes.toml`).
pub const EMBEDDED_TOML: &str = include_str!("../../classes.toml");

/// The table format this code reads (`schema = 1` at the top of the file).
pub const SCHEMA: i64 = 1;

/// What a class is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClassKind {
    /// A GPU with datasheet peaks; phases use tensor cores, integer ALUs and memory, and
    /// overlap only where the model says so.
    Gpu,
    /// The `cpu-reference` device: one CPU thread, rates measured by calibration.
    Cpu,
}

/// An efficiency window for one resource, as fractions of its peak:
/// `0 < low ≤ nominal ≤ high ≤ 1` (checked on load).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// The slowest an honest device of the class is expected to run (`max_s` uses it).
    pub low: f64,
    /// What a good implementation sustains (expected time and sizing use it).
    pub nominal: f64,
    /// The fastest expected (`min_s` uses it; informational).
    pub high: f64,
}

/// The efficiency windows of a class, per resource.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Efficiency {
    /// Tensor int8 GEMM (the `gemm` phase).
    pub tensor: Window,
    /// 32-bit integer work: Philox fills and BLAKE3 hashing.
    pub int: Window,
    /// Memory traffic (relayout, `membw` passes, every phase's bytes on a GPU).
    pub dram: Window,
}

/// The peaks of a GPU class, in units per second. All positive and finite (checked on load).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GpuPeaks {
    /// Dense int8 tensor ops per second (datasheet TOPS × 10¹²; multiply and add count 2).
    pub int8_ops_per_s: f64,
    /// Memory bandwidth in bytes per second (datasheet).
    pub dram_bytes_per_s: f64,
    /// 32-bit instruction issue rate: SMs × 128 lanes × boost clock (an upper bound for any
    /// instruction mix: four schedulers per SM each issue one 32-thread instruction a clock).
    pub int32_ops_per_s: f64,
    /// Philox4x32-10 blocks per second: `int32_ops_per_s / PHILOX_INSTR_PER_BLOCK` unless the
    /// table gives a measured figure.
    pub philox_blocks_per_s: f64,
    /// BLAKE3 bytes per second: `int32_ops_per_s / BLAKE3_INSTR_PER_BYTE` unless the table
    /// gives a measured figure.
    pub blake3_bytes_per_s: f64,
}

/// The measured single-thread rates of the `cpu-reference` device, per phase, in units per
/// second (see [`calibrate_cpu_reference`](super::calibrate_cpu_reference)). The CPU backend
/// writes GEMM results straight into tiles, so `relayout` has no rate: it is part of `gemm`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuRates {
    /// `prf-fill`: Philox blocks per second (counter mode, `prf::fill_tensor`).
    pub prf_fill_blocks_per_s: f64,
    /// `gemm`: int8 ops per second (2 per multiply-add), tile-major output included.
    pub gemm_ops_per_s: f64,
    /// `hash`: bytes committed per second (BLAKE3 tree of the output, kept for openings).
    pub hash_bytes_per_s: f64,
    /// `membw-fill`: Philox calls per second (chained, `membw::fill_blocks`).
    pub membw_fill_blocks_per_s: f64,
    /// `membw-pass`: bytes read per second by the fold (`2·V` per pass).
    pub membw_pass_bytes_per_s: f64,
}

impl CpuRates {
    /// docs/design.md's rule for `membw`'s `R` on these rates (a CPU device is its own cheater's best
    /// card): the least `R` making regenerating a group at least 10× dearer than reading it in
    /// a pass, `(R+1) / (16 · Philox calls/s) ≥ 10 / (pass bytes read/s)`, i.e.
    /// `R + 1 ≥ 160 · membw_fill_blocks_per_s / membw_pass_bytes_per_s`; at most
    /// `challenges::membw::MAX_ROUNDS`. A calibrated CPU class takes the larger of this and
    /// the table's `membw_rounds` ([`GpuClass::with_cpu_rates`]).
    pub fn membw_rounds(&self) -> u32 {
        let r1 = (160.0 * self.membw_fill_blocks_per_s / self.membw_pass_bytes_per_s).ceil();
        if r1.is_finite() && r1 >= 1.0 {
            (r1 as u32)
                .saturating_sub(1)
                .min(challenges::membw::MAX_ROUNDS)
        } else {
            0
        }
    }

    /// True when every rate is positive and finite.
    pub fn is_valid(&self) -> bool {
        [
            self.prf_fill_blocks_per_s,
            self.gemm_ops_per_s,
            self.hash_bytes_per_s,
            self.membw_fill_blocks_per_s,
            self.membw_pass_bytes_per_s,
        ]
        .iter()
        .all(|r| r.is_finite() && *r > 0.0)
    }
}

/// What a class's time model runs on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Throughput {
    /// Datasheet-derived peaks.
    Gpu(GpuPeaks),
    /// Calibrated rates; `None` until [`calibrate_cpu_reference`](super::calibrate_cpu_reference)
    /// has run.
    Cpu(Option<CpuRates>),
}

/// One device class of the table. Every figure was checked on load: rates positive and finite,
/// windows ordered, headroom ≥ 1, `membw_rounds` within the module's limit.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuClass {
    id: String,
    name: String,
    kind: ClassKind,
    driver_names: Vec<String>,
    memory_bytes: u64,
    throughput: Throughput,
    efficiency: Efficiency,
    peak_headroom: f64,
    weight: f64,
    membw_rounds: u32,
    target_s: f64,
}

impl GpuClass {
    /// Stable id (`h100-sxm`, `cpu-reference`, …): lower-case letters, digits and `-`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Human-readable name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// GPU or the CPU reference.
    pub fn kind(&self) -> ClassKind {
        self.kind
    }

    /// The driver names (nvidia-smi / `cuDeviceGetName`) that map to this class, as written in
    /// the table; [`ClassTable::classify`] compares them normalized.
    pub fn driver_names(&self) -> &[String] {
        &self.driver_names
    }

    /// Device memory in bytes as the driver reports it (the total, before the CUDA context).
    pub fn memory_bytes(&self) -> u64 {
        self.memory_bytes
    }

    /// What the time model runs on: GPU peaks, or CPU rates once calibrated.
    pub fn throughput(&self) -> &Throughput {
        &self.throughput
    }

    /// The GPU peaks, for GPU classes.
    pub fn gpu_peaks(&self) -> Option<&GpuPeaks> {
        match &self.throughput {
            Throughput::Gpu(p) => Some(p),
            Throughput::Cpu(_) => None,
        }
    }

    /// The calibrated CPU rates, for a calibrated CPU class.
    pub fn cpu_rates(&self) -> Option<&CpuRates> {
        match &self.throughput {
            Throughput::Cpu(r) => r.as_ref(),
            Throughput::Gpu(_) => None,
        }
    }

    /// Datasheet dense int8 TOPS (GPU classes).
    pub fn int8_tops(&self) -> Option<f64> {
        self.gpu_peaks().map(|p| p.int8_ops_per_s / 1e12)
    }

    /// Datasheet memory bandwidth in GB/s (GPU classes).
    pub fn memory_gbs(&self) -> Option<f64> {
        self.gpu_peaks().map(|p| p.dram_bytes_per_s / 1e9)
    }

    /// True when the time model can run (GPU classes always; the CPU class once calibrated).
    pub fn has_rates(&self) -> bool {
        !matches!(self.throughput, Throughput::Cpu(None))
    }

    /// The efficiency windows.
    pub fn efficiency(&self) -> &Efficiency {
        &self.efficiency
    }

    /// Factor (≥ 1) by which a device may beat the peaks (boost clocks above the rated one,
    /// factory or user overclocks, a calibration run on a busy CPU); `peak_floor_s` is divided
    /// by it.
    pub fn peak_headroom(&self) -> f64 {
        self.peak_headroom
    }

    /// Scoring weight of one passing device of this class (≥ 0; H100 SXM = 1).
    pub fn weight(&self) -> f64 {
        self.weight
    }

    /// The `membw` fill round count `R` for this class.
    pub fn membw_rounds(&self) -> u32 {
        self.membw_rounds
    }

    /// The duration a full challenge should take on this class, in seconds (> 0).
    pub fn target_s(&self) -> f64 {
        self.target_s
    }

    /// This class with `membw`'s `R` set to `rounds` (calibration sets a CPU class's `R` from
    /// its measured rates).
    pub fn with_membw_rounds(&self, rounds: u32) -> Self {
        let mut class = self.clone();
        class.membw_rounds = rounds;
        class
    }

    /// This CPU class with measured rates. Fails for a GPU class or invalid rates.
    pub fn with_cpu_rates(&self, rates: CpuRates) -> Result<Self, ClassError> {
        if self.kind != ClassKind::Cpu {
            return Err(field_err(
                &self.id,
                "kind",
                "only a `cpu` class takes calibrated rates",
            ));
        }
        if !rates.is_valid() {
            return Err(ClassError::Calibration(format!(
                "rates must be positive and finite: {rates:?}"
            )));
        }
        let mut class = self.clone();
        class.throughput = Throughput::Cpu(Some(rates));
        class.membw_rounds = class.membw_rounds.max(rates.membw_rounds());
        Ok(class)
    }
}

/// The class table: every class, and the driver-name index.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassTable {
    classes: Vec<GpuClass>,
    by_driver_name: BTreeMap<String, usize>,
    hash: [u8; 32],
}

/// BLAKE3 `derive_key` context of a class table's hash ([`ClassTable::hash`]).
pub const CLASS_TABLE_HASH_CONTEXT: &str = "gpuproof v1 class table";

/// The hash of a class table's TOML text: `blake3::derive_key(CLASS_TABLE_HASH_CONTEXT, text)`.
pub fn class_table_hash(text: &str) -> [u8; 32] {
    blake3::derive_key(CLASS_TABLE_HASH_CONTEXT, text.as_bytes())
}

impl ClassTable {
    /// The table compiled into the binary. Fails only if `classes.toml` in the source tree is
    /// broken (a test parses it).
    pub fn embedded() -> Result<Self, ClassError> {
        Self::from_toml(EMBEDDED_TOML)
    }

    /// Parses and checks a table. Errors name the class (position and id) and the field.
    pub fn from_toml(text: &str) -> Result<Self, ClassError> {
        let root: Table = text
            .parse()
            .map_err(|e: toml::de::Error| ClassError::Syntax(e.to_string().trim().to_string()))?;
        for key in root.keys() {
            if key != "schema" && key != "class" {
                return Err(ClassError::Table {
                    field: key.clone(),
                    problem: "unknown top-level field (expected `schema` and `[[class]]`)".into(),
                });
            }
        }
        match root.get("schema") {
            Some(Value::Integer(SCHEMA)) => {}
            Some(other) => {
                return Err(ClassError::Table {
                    field: "schema".into(),
                    problem: format!("this verifier reads schema {SCHEMA}, found {other}"),
                });
            }
            None => {
                return Err(ClassError::Table {
                    field: "schema".into(),
                    problem: format!("missing (expected `schema = {SCHEMA}`)"),
                });
            }
        }
        let entries = match root.get("class") {
            Some(Value::Array(a)) if !a.is_empty() => a,
            _ => {
                return Err(ClassError::Table {
                    field: "class".into(),
                    problem: "expected at least one `[[class]]` table".into(),
                });
            }
        };
        let mut classes = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let Value::Table(t) = entry else {
                return Err(ClassError::Table {
                    field: "class".into(),
                    problem: format!("entry #{} is a {}, not a table", i + 1, entry.type_str()),
                });
            };
            classes.push(parse_class(i, t)?);
        }
        Self::from_classes(classes, class_table_hash(text))
    }

    /// The table's identity: [`class_table_hash`] of the TOML text it was parsed from. A
    /// class replaced with [`with_class`](Self::with_class) (the calibrated `cpu-reference`,
    /// whose rates are measured per machine and travel beside it) keeps the table's hash.
    /// Receipts name the table they were judged under by it.
    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }

    /// Reads and parses a table file.
    pub fn load(path: &Path) -> Result<Self, ClassError> {
        let text = std::fs::read_to_string(path).map_err(|e| ClassError::Io {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        Self::from_toml(&text)
    }

    fn from_classes(classes: Vec<GpuClass>, hash: [u8; 32]) -> Result<Self, ClassError> {
        let mut by_driver_name = BTreeMap::new();
        let mut ids = BTreeMap::new();
        for (i, class) in classes.iter().enumerate() {
            if let Some(first) = ids.insert(class.id.clone(), i) {
                return Err(field_err(
                    &class.id,
                    "id",
                    &format!("duplicate id (also class #{})", first + 1),
                ));
            }
            for name in &class.driver_names {
                let key = normalize_driver_name(name);
                if let Some(other) = by_driver_name.insert(key, i) {
                    let other_id = classes.get(other).map_or("?", |c| c.id.as_str());
                    return Err(field_err(
                        &class.id,
                        "driver_names",
                        &format!("`{name}` also maps to class `{other_id}`"),
                    ));
                }
            }
        }
        Ok(Self {
            classes,
            by_driver_name,
            hash,
        })
    }

    /// Every class, in file order.
    pub fn classes(&self) -> &[GpuClass] {
        &self.classes
    }

    /// The class with this id.
    pub fn get(&self, id: &str) -> Option<&GpuClass> {
        self.classes.iter().find(|c| c.id == id)
    }

    /// The scoring weight of class `id`; 0 for no class or one this table does not have.
    pub fn weight_of(&self, id: Option<&str>) -> f64 {
        id.and_then(|c| self.get(c)).map_or(0.0, GpuClass::weight)
    }

    /// The class a driver-reported device name maps to, comparing [normalized](normalize_driver_name)
    /// names exactly.
    ///
    /// An unknown name gives `None`, and the caller must treat the device as unclassified (not
    /// challenged as any class, so it earns nothing) until the table lists the name. There is
    /// deliberately no fuzzy or substring match: the name is the miner's word, and a guess
    /// ("contains `H100`") would let a PCIe card, an H800 or an NVL board be judged and paid
    /// as another class.
    pub fn classify(&self, driver_name: &str) -> Option<&GpuClass> {
        let i = self
            .by_driver_name
            .get(&normalize_driver_name(driver_name))?;
        self.classes.get(*i)
    }

    /// This table with a class replaced by one of the same id (e.g. the calibrated
    /// `cpu-reference`). Fails if no class has that id or the driver names changed.
    pub fn with_class(&self, class: GpuClass) -> Result<Self, ClassError> {
        let mut classes = self.classes.clone();
        let slot = classes
            .iter_mut()
            .find(|c| c.id == class.id)
            .ok_or_else(|| field_err(&class.id, "id", "no class with this id in the table"))?;
        if slot.driver_names != class.driver_names {
            return Err(field_err(
                &class.id,
                "driver_names",
                "a replacement class must keep its driver names",
            ));
        }
        *slot = class;
        Self::from_classes(classes, self.hash)
    }
}

pub use protocol::normalize_driver_name;

fn field_err(class: &str, field: &str, problem: &str) -> ClassError {
    ClassError::Field {
        class: format!("`{class}`"),
        field: field.to_string(),
        problem: problem.to_string(),
    }
}

const FIELDS: [&str; 16] = [
    "id",
    "name",
    "kind",
    "driver_names",
    "memory_bytes",
    "int8_tops",
    "memory_gbs",
    "int32_tops",
    "philox_gblocks_s",
    "blake3_gbytes_s",
    "peak_headroom",
    "weight",
    "membw_rounds",
    "target_s",
    "efficiency",
    "notes",
];

/// One `[[class]]` entry being read, with the label its errors carry.
struct Entry<'a> {
    label: String,
    table: &'a Table,
}

impl Entry<'_> {
    fn err(&self, field: &str, problem: impl Into<String>) -> ClassError {
        ClassError::Field {
            class: self.label.clone(),
            field: field.to_string(),
            problem: problem.into(),
        }
    }

    fn get(&self, field: &str) -> Result<&Value, ClassError> {
        self.table
            .get(field)
            .ok_or_else(|| self.err(field, "missing"))
    }

    fn string(&self, field: &str) -> Result<String, ClassError> {
        match self.get(field)? {
            Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
            Value::String(_) => Err(self.err(field, "must not be empty")),
            other => Err(self.err(
                field,
                format!("expected a string, found {}", other.type_str()),
            )),
        }
    }

    fn number(value: &Value) -> Option<f64> {
        match value {
            Value::Float(f) => Some(*f),
            Value::Integer(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// A positive finite number.
    fn positive(&self, field: &str, value: &Value) -> Result<f64, ClassError> {
        let x = Self::number(value).ok_or_else(|| {
            self.err(
                field,
                format!("expected a number, found {}", value.type_str()),
            )
        })?;
        if x.is_finite() && x > 0.0 {
            Ok(x)
        } else {
            Err(self.err(field, format!("must be positive and finite, found {x}")))
        }
    }

    fn req_positive(&self, field: &str) -> Result<f64, ClassError> {
        self.positive(field, self.get(field)?)
    }

    fn opt_positive(&self, field: &str) -> Result<Option<f64>, ClassError> {
        self.table
            .get(field)
            .map(|v| self.positive(field, v))
            .transpose()
    }

    fn integer(&self, field: &str, min: i64, max: i64) -> Result<i64, ClassError> {
        match self.get(field)? {
            Value::Integer(i) if (min..=max).contains(i) => Ok(*i),
            Value::Integer(i) => {
                Err(self.err(field, format!("must be between {min} and {max}, found {i}")))
            }
            other => Err(self.err(
                field,
                format!("expected an integer, found {}", other.type_str()),
            )),
        }
    }

    fn window(&self, eff: &Table, key: &str) -> Result<Window, ClassError> {
        let field = format!("efficiency.{key}");
        let value = eff
            .get(key)
            .ok_or_else(|| self.err(&field, "missing (expected [low, nominal, high])"))?;
        let numbers: Vec<f64> = match value {
            Value::Array(a) => a.iter().filter_map(Self::number).collect(),
            _ => Vec::new(),
        };
        let [low, nominal, high] = numbers[..] else {
            return Err(self.err(&field, "expected three numbers [low, nominal, high]"));
        };
        let ordered = low.is_finite() && 0.0 < low && low <= nominal && nominal <= high;
        if !ordered || high > 1.0 {
            return Err(self.err(
                &field,
                format!(
                    "must satisfy 0 < low ≤ nominal ≤ high ≤ 1 (fractions of the peak), found [{low}, {nominal}, {high}]"
                ),
            ));
        }
        Ok(Window { low, nominal, high })
    }
}

fn parse_class(index: usize, t: &Table) -> Result<GpuClass, ClassError> {
    let id_hint = match t.get("id") {
        Some(Value::String(s)) => format!(" (`{s}`)"),
        _ => String::new(),
    };
    let e = Entry {
        label: format!("#{}{id_hint}", index + 1),
        table: t,
    };
    for key in t.keys() {
        if !FIELDS.contains(&key.as_str()) {
            return Err(e.err(key, "unknown field"));
        }
    }
    let id = e.string("id")?;
    if !id
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(e.err("id", "use lower-case letters, digits and `-` only"));
    }
    let name = e.string("name")?;
    let kind = match e.string("kind")?.as_str() {
        "gpu" => ClassKind::Gpu,
        "cpu" => ClassKind::Cpu,
        other => return Err(e.err("kind", format!("expected `gpu` or `cpu`, found `{other}`"))),
    };
    let driver_names = match e.get("driver_names")? {
        Value::Array(a) if !a.is_empty() => a
            .iter()
            .map(|v| match v {
                Value::String(s) if !normalize_driver_name(s).is_empty() => Ok(s.clone()),
                _ => Err(e.err("driver_names", "every entry must be a non-empty string")),
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(e.err("driver_names", "expected a non-empty array of strings")),
    };
    let memory_bytes = u64::try_from(e.integer("memory_bytes", 1 << 20, i64::MAX)?)
        .map_err(|_| e.err("memory_bytes", "out of range"))?;
    let gpu_fields = [
        "int8_tops",
        "memory_gbs",
        "int32_tops",
        "philox_gblocks_s",
        "blake3_gbytes_s",
    ];
    let throughput = match kind {
        ClassKind::Gpu => {
            let int8 = e.req_positive("int8_tops")? * 1e12;
            let dram = e.req_positive("memory_gbs")? * 1e9;
            let int32 = e.req_positive("int32_tops")? * 1e12;
            let philox = e
                .opt_positive("philox_gblocks_s")?
                .map_or(int32 / PHILOX_INSTR_PER_BLOCK, |g| g * 1e9);
            let blake3 = e
                .opt_positive("blake3_gbytes_s")?
                .map_or(int32 / BLAKE3_INSTR_PER_BYTE, |g| g * 1e9);
            Throughput::Gpu(GpuPeaks {
                int8_ops_per_s: int8,
                dram_bytes_per_s: dram,
                int32_ops_per_s: int32,
                philox_blocks_per_s: philox,
                blake3_bytes_per_s: blake3,
            })
        }
        ClassKind::Cpu => {
            if let Some(f) = gpu_fields.iter().find(|f| t.contains_key(**f)) {
                return Err(e.err(
                    f,
                    "a `cpu` class has no datasheet figures: its rates come from calibration",
                ));
            }
            Throughput::Cpu(None)
        }
    };
    let peak_headroom = e.req_positive("peak_headroom")?;
    if peak_headroom < 1.0 {
        return Err(e.err(
            "peak_headroom",
            format!("must be at least 1 (a factor above the peak), found {peak_headroom}"),
        ));
    }
    let weight = match Entry::number(e.get("weight")?) {
        Some(w) if w.is_finite() && w >= 0.0 => w,
        _ => return Err(e.err("weight", "expected a number ≥ 0")),
    };
    let membw_rounds =
        u32::try_from(e.integer("membw_rounds", 0, i64::from(challenges::membw::MAX_ROUNDS))?)
            .map_err(|_| e.err("membw_rounds", "out of range"))?;
    let target_s = e.req_positive("target_s")?;
    let eff = match e.get("efficiency")? {
        Value::Table(eff) => eff,
        other => {
            return Err(e.err(
                "efficiency",
                format!("expected a table, found {}", other.type_str()),
            ));
        }
    };
    for key in eff.keys() {
        if !["tensor", "int", "dram"].contains(&key.as_str()) {
            return Err(e.err(&format!("efficiency.{key}"), "unknown field"));
        }
    }
    let efficiency = Efficiency {
        tensor: e.window(eff, "tensor")?,
        int: e.window(eff, "int")?,
        dram: e.window(eff, "dram")?,
    };
    if efficiency
        .tensor
        .high
        .max(efficiency.int.high)
        .max(efficiency.dram.high)
        > peak_headroom
    {
        // Unreachable while high ≤ 1 ≤ headroom; kept so the invariant min_s ≥ peak_floor_s is
        // stated where the figures are read.
        return Err(e.err("peak_headroom", "must be at least every window's `high`"));
    }
    if let Some(notes) = t.get("notes")
        && !matches!(notes, Value::String(_))
    {
        return Err(e.err("notes", "expected a string"));
    }
    Ok(GpuClass {
        id,
        name,
        kind,
        driver_names,
        memory_bytes,
        throughput,
        efficiency,
        peak_headroom,
        weight,
        membw_rounds,
        target_s,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn normalization() {
        assert_eq!(
            normalize_driver_name("  NVIDIA   A100-SXM4-40GB "),
            "a100-sxm4-40gb"
        );
        assert_eq!(normalize_driver_name("A100-SXM4-40GB"), "a100-sxm4-40gb");
        assert_eq!(normalize_driver_name("cpu-reference"), "cpu-reference");
        assert_eq!(normalize_driver_name("   "), "");
    }

    /// Fuzzing found `NVIDIA NVIDIA H100 80GB HBM3` normalized to a form that normalized
    /// again to another (fuzz/regressions/class_table).
    #[test]
    fn normalization_is_a_fixed_point() {
        for name in [
            "NVIDIA NVIDIA H100 80GB HBM3",
            "nvidia  nvidia nvidia x",
            "NVIDIA",
            "nvidia ",
        ] {
            let once = normalize_driver_name(name);
            assert_eq!(normalize_driver_name(&once), once, "{name:?}");
        }
        assert_eq!(
            normalize_driver_name("NVIDIA NVIDIA H100 80GB HBM3"),
            "h100 80gb hbm3"
        );
    }

    #[test]
    fn embedded_derives_philox_and_blake3_from_int32() {
        let table = ClassTable::embedded().unwrap();
        let h100 = table.get("h100-sxm").unwrap().gpu_peaks().copied().unwrap();
        let rel = |a: f64, b: f64| (a - b).abs() / b;
        assert!(rel(h100.philox_blocks_per_s, h100.int32_ops_per_s / 40.0) < 1e-12);
        assert!(rel(h100.blake3_bytes_per_s, h100.int32_ops_per_s / 10.5) < 1e-12);
    }

    #[test]
    fn cpu_class_refuses_datasheet_fields_and_gpu_class_refuses_rates() {
        let table = ClassTable::embedded().unwrap();
        let gpu = table.get("l4").unwrap();
        let rates = CpuRates {
            prf_fill_blocks_per_s: 1.0,
            gemm_ops_per_s: 1.0,
            hash_bytes_per_s: 1.0,
            membw_fill_blocks_per_s: 1.0,
            membw_pass_bytes_per_s: 1.0,
        };
        assert!(gpu.with_cpu_rates(rates).is_err());
        let cpu = table.get("cpu-reference").unwrap();
        assert!(!cpu.has_rates());
        let bad = CpuRates {
            gemm_ops_per_s: f64::NAN,
            ..rates
        };
        assert!(cpu.with_cpu_rates(bad).is_err());
        let calibrated = cpu.with_cpu_rates(rates).unwrap();
        assert!(calibrated.has_rates());
        let replaced = table.with_class(calibrated).unwrap();
        assert!(replaced.classify("cpu-reference").unwrap().has_rates());
    }
}
