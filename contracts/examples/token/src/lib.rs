//! A confidential token: balances are private to their owners, the total supply is public.
//!
//! Nothing about a transfer (who, to whom, how much) leaves pRuntime: the command arrives
//! encrypted, the state is sealed, and `balance` is answered only to the account it is about.
//!
//! It also pays contracts: `pay` takes the amount from the sender, holds it, and sends the
//! payee contract a message `(payer, amount)`. The payee answers with the part it pays back
//! (a `u128`); the token then credits the payee's account with the rest and the payer with the
//! part paid back. If the payee refuses, traps or does not exist, the payer gets everything
//! back. A contract moves its own balance by sending the token `(to, amount)`.

use veil_sdk::{
    export, reply, AccountId, Context, Contract, ContractId, Env, Error, Incoming, Item, Map,
    MessageReply, QueryContext,
};

veil_sdk::errors! {
    pub enum TokenError {
        InsufficientBalance = 1 => "insufficient balance",
        NotYourBalance = 2 => "a balance is answered only to its owner",
        ZeroAmount = 3 => "amount must be positive",
        Overflow = 4 => "balance would overflow",
        UnknownPayment = 5 => "a reply to no payment in flight",
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
/// Payments in flight, by payee and message id: the payer and the amount held.
const IN_FLIGHT: Map<(ContractId, u64), (AccountId, u128)> = Map::new(b"in_flight");

/// The account under which a contract holds tokens.
pub fn contract_account(contract: ContractId) -> AccountId {
    AccountId(contract.0)
}

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
                let from = cx.caller();
                transfer(cx, from, to, amount)?;
                reply(&())
            }
            Command::Pay { to, amount } => {
                let payer = cx.caller();
                debit(cx, &payer, amount)?;
                let id = cx.send(to, &(payer, amount));
                IN_FLIGHT.save(cx, &(to, id), &(payer, amount));
                reply(&id)
            }
        }
    }

    fn message(cx: &mut Context, incoming: Incoming) -> Result<Vec<u8>, Error> {
        match incoming {
            // A contract moves tokens out of its own account.
            Incoming::Message { from, payload, .. } => {
                let (to, amount): (AccountId, u128) = veil_sdk::decode(&payload)
                    .map_err(|e| Error::new(Error::BAD_INPUT, e.to_string()))?;
                transfer(cx, contract_account(from), to, amount)?;
                reply(&())
            }
            // A payment settled: the payee keeps what it did not pay back; a refusal, a trap
            // or a missing payee returns everything to the payer.
            Incoming::Reply {
                from,
                id,
                reply: outcome,
            } => {
                let (payer, amount) = IN_FLIGHT
                    .load(cx, &(from, id))?
                    .ok_or(TokenError::UnknownPayment)?;
                IN_FLIGHT.remove(cx, &(from, id));
                let refund = match outcome.decode_ok::<u128>() {
                    Some(Ok(refund)) => refund.min(amount),
                    // A payee answering something else keeps the whole payment.
                    Some(Err(_)) => 0,
                    None => amount,
                };
                credit(cx, &contract_account(from), amount - refund)?;
                credit(cx, &payer, refund)?;
                cx.emit(&Settled {
                    payee: from,
                    id,
                    kept: amount - refund,
                    returned: refund,
                    delivered: outcome != MessageReply::NotDelivered,
                });
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
            // What a contract holds is public: its code, not a person, decides what it does.
            Query::ContractBalance { contract } => {
                reply(&BALANCES.load_or(cx, &contract_account(contract), 0)?)
            }
        }
    }
}

/// A payment to a contract settled (emitted to whoever triggered the reply's handling).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settled {
    /// The payee.
    pub payee: ContractId,
    /// The payment's message id.
    pub id: u64,
    /// What the payee kept.
    pub kept: u128,
    /// What went back to the payer.
    pub returned: u128,
    /// Whether the payee ran at all.
    pub delivered: bool,
}
veil_sdk::codec_struct!(Settled {
    payee: ContractId,
    id: u64,
    kept: u128,
    returned: u128,
    delivered: bool
});

/// Moves `amount` from `from` to `to`. Public so benchmarks can run it natively.
pub fn transfer(
    cx: &mut Context,
    from: AccountId,
    to: AccountId,
    amount: u128,
) -> Result<(), Error> {
    debit(cx, &from, amount)?;
    credit(cx, &to, amount)?;
    cx.emit(&Transferred { from, to, amount });
    Ok(())
}

fn debit(cx: &mut Context, from: &AccountId, amount: u128) -> Result<(), Error> {
    if amount == 0 {
        return Err(TokenError::ZeroAmount.into());
    }
    let remaining = BALANCES
        .load_or(cx, from, 0)?
        .checked_sub(amount)
        .ok_or(TokenError::InsufficientBalance)?;
    BALANCES.save(cx, from, &remaining);
    Ok(())
}

fn credit(cx: &mut Context, to: &AccountId, amount: u128) -> Result<(), Error> {
    if amount == 0 {
        return Ok(());
    }
    let credited = BALANCES
        .load_or(cx, to, 0)?
        .checked_add(amount)
        .ok_or(TokenError::Overflow)?;
    BALANCES.save(cx, to, &credited);
    Ok(())
}

export! {
    contract: Token,
    init: Init { supply: u128 },
    commands: Command {
        0 transfer => Transfer { to: AccountId, amount: u128 } -> (),
        1 pay => Pay { to: ContractId, amount: u128 } -> u64,
    },
    queries: Query {
        0 balance => Balance { who: AccountId } -> u128,
        1 total_supply => TotalSupply {} -> u128,
        2 contract_balance => ContractBalance { contract: ContractId } -> u128,
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

    const VAULT: ContractId = ContractId([9; 32]);

    /// Alice pays the vault 400; returns the payment's id.
    fn pay(host: &mut MockHost, alice: AccountId) -> u64 {
        host.set_caller(alice);
        let id: u64 = host
            .command_as::<Token, u64>(&Command::Pay {
                to: VAULT,
                amount: 400,
            })
            .unwrap();
        let sent = host.take_sent();
        assert_eq!(sent.len(), 1);
        assert_eq!((sent[0].to, sent[0].id), (VAULT, id));
        assert_eq!(
            veil_sdk::decode::<(AccountId, u128)>(&sent[0].payload),
            Ok((alice, 400))
        );
        assert_eq!(
            host.query_as::<Token, u128>(&Query::Balance { who: alice }),
            Ok(600),
            "held while in flight"
        );
        id
    }

    fn settle(host: &mut MockHost, id: u64, reply: MessageReply) {
        host.message::<Token>(&Incoming::Reply {
            from: VAULT,
            id,
            reply,
        })
        .unwrap();
    }

    fn balances(host: &mut MockHost, alice: AccountId) -> (u128, u128) {
        host.set_caller(alice);
        let vault = Query::ContractBalance { contract: VAULT };
        (
            host.query_as::<Token, u128>(&Query::Balance { who: alice })
                .unwrap(),
            host.query_as::<Token, u128>(&vault).unwrap(),
        )
    }

    #[test]
    fn a_payment_is_held_until_the_payee_answers() {
        let (mut host, alice, _) = setup();
        let id = pay(&mut host, alice);
        settle(&mut host, id, MessageReply::Ok(veil_sdk::encode(&40u128)));
        assert_eq!(balances(&mut host, alice), (640, 360));
        // A second reply to the same payment is refused and changes nothing.
        let again = host.message::<Token>(&Incoming::Reply {
            from: VAULT,
            id,
            reply: MessageReply::NotDelivered,
        });
        assert_eq!(again.unwrap_err().code, TokenError::UnknownPayment.code());
        assert_eq!(balances(&mut host, alice), (640, 360));
        // The vault moves its own tokens by message.
        host.message::<Token>(&Incoming::Message {
            from: VAULT,
            id: 0,
            payload: veil_sdk::encode(&(alice, 60u128)),
        })
        .unwrap();
        assert_eq!(balances(&mut host, alice), (700, 300));
    }

    #[test]
    fn a_refused_trapped_or_undelivered_payment_is_restored() {
        let (mut host, alice, _) = setup();
        for reply in [
            MessageReply::Err(1),
            MessageReply::Err(Error::TRAPPED),
            MessageReply::NotDelivered,
        ] {
            let id = pay(&mut host, alice);
            settle(&mut host, id, reply);
            assert_eq!(balances(&mut host, alice), (1_000, 0));
        }
        // Ids count up per payee.
        assert_eq!(pay(&mut host, alice), 3);
        // A failed pay sends nothing.
        host.set_caller(MockHost::account("pauper"));
        assert!(host
            .command::<Token>(&Command::Pay {
                to: VAULT,
                amount: 1
            })
            .is_err());
        assert!(host.take_sent().is_empty());
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
