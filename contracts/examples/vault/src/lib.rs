//! A confidential vault that takes payments from one token contract and pays part of each
//! back: the counterpart of the token's `pay`, across contracts and miners.
//!
//! The token sends `(payer, amount)`; the vault records the deposit and answers with the part
//! it pays back (`refund_percent` of the amount), which the token returns to the payer. A
//! payment over `limit` is refused (the token restores it); a payment of nothing is a bug in
//! the payer and traps (the token restores it too). Deposits are answered only to their owner.

use veil_sdk::{
    export, reply, AccountId, Context, Contract, ContractId, Env, Error, Incoming, Item, Map,
    QueryContext,
};

veil_sdk::errors! {
    pub enum VaultError {
        OverLimit = 1 => "payment over the vault's limit",
        NotTheToken = 2 => "the vault takes payments from its token only",
        NotYourDeposit = 3 => "a deposit is answered only to its owner",
        BadPercent = 4 => "refund_percent is at most 100",
    }
}

const TOKEN: Item<ContractId> = Item::new(b"token");
const REFUND_PERCENT: Item<u8> = Item::new(b"refund_percent");
const LIMIT: Item<u128> = Item::new(b"limit");
const TOTAL: Item<u128> = Item::new(b"total");
const DEPOSITS: Map<AccountId, u128> = Map::new(b"deposits");

/// The vault contract.
pub struct Vault;

impl Contract for Vault {
    type Init = Init;
    type Command = Command;
    type Query = Query;

    fn init(cx: &mut Context, args: Init) -> Result<(), Error> {
        if args.refund_percent > 100 {
            return Err(VaultError::BadPercent.into());
        }
        TOKEN.save(cx, &args.token);
        REFUND_PERCENT.save(cx, &args.refund_percent);
        LIMIT.save(cx, &args.limit);
        Ok(())
    }

    fn command(_: &mut Context, command: Command) -> Result<Vec<u8>, Error> {
        match command {}
    }

    fn query(cx: &QueryContext, query: Query) -> Result<Vec<u8>, Error> {
        match query {
            Query::Deposit { who } => {
                if who != cx.caller() {
                    return Err(VaultError::NotYourDeposit.into());
                }
                reply(&DEPOSITS.load_or(cx, &who, 0)?)
            }
            Query::Total {} => reply(&TOTAL.load_or(cx, 0)?),
        }
    }

    fn message(cx: &mut Context, incoming: Incoming) -> Result<Vec<u8>, Error> {
        let (from, payload) = match incoming {
            Incoming::Message { from, payload, .. } => (from, payload),
            // The vault sends nothing, so it gets no replies to act on.
            Incoming::Reply { .. } => return reply(&()),
        };
        if Some(from) != TOKEN.load(cx)? {
            return Err(VaultError::NotTheToken.into());
        }
        let (payer, amount): (AccountId, u128) =
            veil_sdk::decode(&payload).map_err(|e| Error::new(Error::BAD_INPUT, e.to_string()))?;
        assert!(amount > 0, "the token paid nothing");
        if amount > LIMIT.load_or(cx, 0)? {
            return Err(VaultError::OverLimit.into());
        }
        let percent = REFUND_PERCENT.load_or(cx, 0)? as u128;
        let refund = amount / 100 * percent + amount % 100 * percent / 100;
        let kept = amount - refund;
        DEPOSITS.save(cx, &payer, &(DEPOSITS.load_or(cx, &payer, 0)? + kept));
        TOTAL.save(cx, &(TOTAL.load_or(cx, 0)? + kept));
        reply(&refund)
    }
}

export! {
    contract: Vault,
    init: Init { token: ContractId, refund_percent: u8, limit: u128 },
    commands: Command {},
    queries: Query {
        0 deposit => Deposit { who: AccountId } -> u128,
        1 total => Total {} -> u128,
    },
}

#[cfg(test)]
mod tests {
    use veil_sdk::mock::MockHost;
    use veil_sdk::{codec, Error};

    use super::*;

    const TOKEN_ID: ContractId = ContractId([7; 32]);

    fn setup() -> MockHost {
        let mut host = MockHost::new();
        host.init::<Vault>(&Init {
            token: TOKEN_ID,
            refund_percent: 10,
            limit: 1_000,
        })
        .unwrap();
        host
    }

    fn payment(from: ContractId, payer: AccountId, amount: u128) -> Incoming {
        Incoming::Message {
            from,
            id: 0,
            payload: codec::encode(&(payer, amount)),
        }
    }

    #[test]
    fn a_payment_is_kept_less_the_refund() {
        let mut host = setup();
        let alice = MockHost::account("alice");
        let answer = host
            .message::<Vault>(&payment(TOKEN_ID, alice, 500))
            .unwrap();
        assert_eq!(codec::decode::<u128>(&answer), Ok(50));
        host.set_caller(alice);
        assert_eq!(
            host.query_as::<Vault, u128>(&Query::Deposit { who: alice }),
            Ok(450)
        );
        assert_eq!(host.query_as::<Vault, u128>(&Query::Total {}), Ok(450));
    }

    #[test]
    fn refused_and_trapping_payments_change_nothing() {
        let mut host = setup();
        let alice = MockHost::account("alice");
        let over = host
            .message::<Vault>(&payment(TOKEN_ID, alice, 1_001))
            .unwrap_err();
        assert_eq!(over.code, VaultError::OverLimit.code());
        let stranger = host
            .message::<Vault>(&payment(ContractId([8; 32]), alice, 5))
            .unwrap_err();
        assert_eq!(stranger.code, VaultError::NotTheToken.code());
        let zero = host
            .message::<Vault>(&payment(TOKEN_ID, alice, 0))
            .unwrap_err();
        assert_eq!(zero.code, Error::TRAPPED);
        assert_eq!(host.query_as::<Vault, u128>(&Query::Total {}), Ok(0));
    }
}
