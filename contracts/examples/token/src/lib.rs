//! A confidential token: balances are private to their owners, the total supply is public.
//!
//! Nothing about a transfer (who, to whom, how much) leaves pRuntime: the command arrives
//! encrypted, the state is sealed, and `balance` is answered only to the account it is about.

use veil_sdk::{export, reply, AccountId, Context, Contract, Env, Error, Item, Map, QueryContext};

veil_sdk::errors! {
    pub enum TokenError {
        InsufficientBalance = 1 => "insufficient balance",
        NotYourBalance = 2 => "a balance is answered only to its owner",
        ZeroAmount = 3 => "amount must be positive",
        Overflow = 4 => "balance would overflow",
    }
}

/// Transfers emit this event to their sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transferred {
    /// Payer.
    pub from: AccountId,
    /// Payee.
    pub to: AccountId,
    /// Amount moved.
    pub amount: u128,
}
veil_sdk::codec_struct!(Transferred {
    from: AccountId,
    to: AccountId,
    amount: u128
});

const SUPPLY: Item<u128> = Item::new(b"supply");
const BALANCES: Map<AccountId, u128> = Map::new(b"balances");

/// The token contract.
pub struct Token;

impl Contract for Token {
    type Init = Init;
    type Command = Command;
    type Query = Query;

    fn init(cx: &mut Context, args: Init) -> Result<(), Error> {
        SUPPLY.save(cx, &args.supply);
        let owner = cx.caller();
        BALANCES.save(cx, &owner, &args.supply);
        Ok(())
    }

    fn command(cx: &mut Context, command: Command) -> Result<Vec<u8>, Error> {
        match command {
            Command::Transfer { to, amount } => {
                transfer(cx, to, amount)?;
                reply(&())
            }
        }
    }

    fn query(cx: &QueryContext, query: Query) -> Result<Vec<u8>, Error> {
        match query {
            Query::Balance { who } => {
                if who != cx.caller() {
                    return Err(TokenError::NotYourBalance.into());
                }
                reply(&BALANCES.load_or(cx, &who, 0)?)
            }
            Query::TotalSupply {} => reply(&SUPPLY.load_or(cx, 0)?),
        }
    }
}

/// Moves `amount` from the caller to `to`. Public so benchmarks can run it natively.
pub fn transfer(cx: &mut Context, to: AccountId, amount: u128) -> Result<(), Error> {
    if amount == 0 {
        return Err(TokenError::ZeroAmount.into());
    }
    let from = cx.caller();
    let balance = BALANCES.load_or(cx, &from, 0)?;
    let remaining = balance
        .checked_sub(amount)
        .ok_or(TokenError::InsufficientBalance)?;
    BALANCES.save(cx, &from, &remaining);
    let credited = BALANCES
        .load_or(cx, &to, 0)?
        .checked_add(amount)
        .ok_or(TokenError::Overflow)?;
    BALANCES.save(cx, &to, &credited);
    cx.emit(&Transferred { from, to, amount });
    Ok(())
}

export! {
    contract: Token,
    init: Init { supply: u128 },
    commands: Command {
        0 transfer => Transfer { to: AccountId, amount: u128 } -> (),
    },
    queries: Query {
        0 balance => Balance { who: AccountId } -> u128,
        1 total_supply => TotalSupply {} -> u128,
    },
}

#[cfg(test)]
mod tests {
    use veil_sdk::mock::MockHost;
    use veil_sdk::{decode, Error};

    use super::*;

    fn setup() -> (MockHost, AccountId, AccountId) {
        let mut host = MockHost::new();
        let alice = MockHost::account("alice");
        let bob = MockHost::account("bob");
        host.set_caller(alice);
        host.init::<Token>(&Init { supply: 1_000 }).unwrap();
        (host, alice, bob)
    }

    #[test]
    fn a_transfer_moves_funds_and_tells_the_sender() {
        let (mut host, alice, bob) = setup();
        host.command::<Token>(&Command::Transfer {
            to: bob,
            amount: 300,
        })
        .unwrap();
        assert_eq!(
            host.query_as::<Token, u128>(&Query::Balance { who: alice }),
            Ok(700)
        );
        host.set_caller(bob);
        assert_eq!(
            host.query_as::<Token, u128>(&Query::Balance { who: bob }),
            Ok(300)
        );
        assert_eq!(
            host.query_as::<Token, u128>(&Query::TotalSupply {}),
            Ok(1_000)
        );
        let event: Transferred = decode(&host.events()[0]).unwrap();
        assert_eq!(
            event,
            Transferred {
                from: alice,
                to: bob,
                amount: 300
            }
        );
    }

    #[test]
    fn a_balance_is_answered_only_to_its_owner() {
        let (mut host, alice, _) = setup();
        host.set_caller(MockHost::account("mallory"));
        let refused = host
            .query::<Token>(&Query::Balance { who: alice })
            .unwrap_err();
        assert_eq!(refused.code, TokenError::NotYourBalance.code());
    }

    #[test]
    fn a_refused_transfer_changes_nothing() {
        let (mut host, alice, bob) = setup();
        let refused = host.command::<Token>(&Command::Transfer {
            to: bob,
            amount: 1_001,
        });
        assert_eq!(
            refused.unwrap_err().code,
            TokenError::InsufficientBalance.code()
        );
        assert_eq!(
            host.query_as::<Token, u128>(&Query::Balance { who: alice }),
            Ok(1_000)
        );
        assert!(host.events().is_empty());
        let garbage = host.command::<Token>(&vec![9u8, 9, 9]).unwrap_err();
        assert_eq!(garbage.code, Error::BAD_INPUT);
    }

    #[test]
    fn a_transfer_costs_two_reads_and_two_writes() {
        let (mut host, _, bob) = setup();
        host.reset_counts();
        host.command::<Token>(&Command::Transfer { to: bob, amount: 1 })
            .unwrap();
        assert_eq!((host.reads(), host.writes()), (2, 2));
    }

    #[test]
    fn the_abi_names_every_method_with_its_arguments() {
        assert!(ABI.contains(r#"{"name":"transfer","tag":0,"args":[{"name":"to","type":"AccountId"},{"name":"amount","type":"u128"}],"returns":"()"}"#), "{}", ABI);
        assert!(
            ABI.contains(r#"{"name":"total_supply","tag":1,"args":[],"returns":"u128"}"#),
            "{}",
            ABI
        );
    }
}
