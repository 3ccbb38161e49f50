pub(crate) fn chain(_a: ChainBenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
#[derive(clap::Args)]
pub(crate) struct ChainBenchArgs {}
