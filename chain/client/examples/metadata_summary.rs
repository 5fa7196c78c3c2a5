//! Prints the storage entries, calls and transaction extensions of a runtime metadata file
//! that `chain-client` uses, with their types: run it when the runtime changes to see what moved.
//!
//! ```sh
//! cargo run -p chain-client --example metadata_summary -- chain/client/metadata/finney.scale [Pallet]
//! ```

use scale_info::{PortableRegistry, TypeDef};
use subxt::Metadata;

fn type_name(types: &PortableRegistry, id: u32, depth: usize) -> String {
    let Some(ty) = types.resolve(id) else {
        return format!("<missing {id}>");
    };
    let path = ty.path.segments.join("::");
    if depth > 3 {
        return format!("{path}#{id}");
    }
    let params: Vec<String> = ty
        .type_params
        .iter()
        .filter_map(|p| p.ty.map(|t| type_name(types, t.id, depth + 1)))
        .collect();
    let generic = if params.is_empty() {
        String::new()
    } else {
        format!("<{}>", params.join(", "))
    };
    match &ty.type_def {
        TypeDef::Primitive(p) => format!("{p:?}").to_lowercase(),
        TypeDef::Compact(c) => format!("Compact<{}>", type_name(types, c.type_param.id, depth + 1)),
        TypeDef::Sequence(s) => format!("Vec<{}>", type_name(types, s.type_param.id, depth + 1)),
        TypeDef::Array(a) => format!(
            "[{}; {}]",
            type_name(types, a.type_param.id, depth + 1),
            a.len
        ),
        TypeDef::Tuple(t) => format!(
            "({})",
            t.fields
                .iter()
                .map(|f| type_name(types, f.id, depth + 1))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        TypeDef::Composite(c) if depth < 2 => format!(
            "{path}{generic} {{{}}}",
            c.fields
                .iter()
                .map(|f| format!(
                    "{}: {}",
                    f.name.as_deref().unwrap_or("_"),
                    type_name(types, f.ty.id, depth + 1)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        TypeDef::Variant(v) if depth < 1 && v.variants.len() < 12 => format!(
            "{path}{generic} [{}]",
            v.variants
                .iter()
                .map(|x| format!("{}={}", x.name, x.index))
                .collect::<Vec<_>>()
                .join(" | ")
        ),
        _ => format!("{path}{generic}"),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: metadata_summary FILE [PALLET]")?;
    let only = args.next();
    let metadata = Metadata::decode_from(&std::fs::read(path)?)?;
    let types = metadata.types();
    println!(
        "transaction extensions (version {}):",
        metadata
            .extrinsic()
            .transaction_extension_version_to_use_for_encoding()
    );
    for ext in metadata
        .extrinsic()
        .transaction_extensions_to_use_for_encoding()
    {
        println!(
            "  {}: value {} / implicit {}",
            ext.identifier(),
            type_name(types, ext.extra_ty(), 0),
            type_name(types, ext.additional_ty(), 0)
        );
    }
    for pallet in metadata.pallets() {
        if only.as_deref().is_some_and(|p| p != pallet.name()) {
            continue;
        }
        println!(
            "pallet {} (call index {})",
            pallet.name(),
            pallet.call_index()
        );
        if let Some(storage) = pallet.storage() {
            for entry in storage.entries() {
                let keys: Vec<String> = entry
                    .keys()
                    .map(|k| format!("{:?}({})", k.hasher, type_name(types, k.key_id, 1)))
                    .collect();
                println!(
                    "  storage {}[{}] -> {}  default={}",
                    entry.name(),
                    keys.join(", "),
                    type_name(types, entry.value_ty(), 0),
                    entry.default_value().map(hex::encode).unwrap_or_default()
                );
            }
        }
        for call in pallet.call_variants().unwrap_or(&[]) {
            let fields: Vec<String> = call
                .fields
                .iter()
                .map(|f| {
                    format!(
                        "{}: {}",
                        f.name.as_deref().unwrap_or("_"),
                        type_name(types, f.ty.id, 1)
                    )
                })
                .collect();
            println!(
                "  call {} = {}({})",
                call.index,
                call.name,
                fields.join(", ")
            );
        }
    }
    Ok(())
}
