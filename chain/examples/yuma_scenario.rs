//! Runs the example scenario (`scenario.json` beside this file) through the Yuma epoch and
//! prints each epoch's incentive, dividends and emission.

use chain::Scenario;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let scenario = Scenario::from_json(include_str!("scenario.json"))?;
    for (i, epoch) in scenario.run()?.epochs.iter().enumerate() {
        println!("epoch {i}");
        println!("  incentive: {:?}", epoch.incentive);
        println!("  dividends: {:?}", epoch.dividends);
        println!("  emission:  {:?}", epoch.emission);
    }
    Ok(())
}
