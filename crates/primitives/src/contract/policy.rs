//! Which developers' contracts a miner takes: its operator's consent, since the operator pays
//! to post every result and message its contracts produce.

use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error, RangeCfg, Read, ReadExt, Write};

use crate::{AccountId, Digest, state_key};

/// Most developers one miner policy names.
pub const MAX_POLICY_DEVELOPERS: usize = 64;

/// A miner's policy, set by its registered operator. It decides where developers may
/// instantiate or move contracts and where the chain's own moves may put them; governance's
/// moves and the contracts a miner already runs are not affected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum MinerPolicy {
    /// Any developer's contracts (the default: a permissionless market of miners).
    #[default]
    Open,
    /// Only these developers' contracts; none takes no new contracts at all.
    Developers(Vec<AccountId>),
}

impl MinerPolicy {
    /// Whether the miner takes a contract of `developer`.
    pub fn admits(&self, developer: &AccountId) -> bool {
        match self {
            Self::Open => true,
            Self::Developers(list) => list.contains(developer),
        }
    }
}

/// State key of a miner's policy (absent: [MinerPolicy::Open]), computable by a light client.
pub fn miner_policy_state_key(miner: &AccountId) -> Digest {
    state_key(b"contracts/miner_policy", miner.as_ref())
}

impl Write for MinerPolicy {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Open => 0u8.write(buf),
            Self::Developers(list) => {
                1u8.write(buf);
                list.write(buf);
            }
        }
    }
}

impl EncodeSize for MinerPolicy {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Open => 0,
            Self::Developers(list) => list.encode_size(),
        }
    }
}

impl Read for MinerPolicy {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        match u8::read(buf)? {
            0 => Ok(Self::Open),
            1 => Ok(Self::Developers(Vec::<AccountId>::read_cfg(
                buf,
                &(RangeCfg::new(0..=MAX_POLICY_DEVELOPERS), ()),
            )?)),
            t => Err(Error::InvalidEnum(t)),
        }
    }
}
