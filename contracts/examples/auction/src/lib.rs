//! A sealed-bid auction: bids stay secret until the close height; then only the winner and
//! the price (the highest bid, first come on a tie) are revealed, and never the losing bids.

use veil_sdk::{export, reply, AccountId, Context, Contract, Env, Error, Item, Map, QueryContext};

veil_sdk::errors! {
    pub enum AuctionError {
        BiddingClosed = 1 => "bidding has closed",
        BiddingOpen = 2 => "the result is sealed until the close height",
        AlreadyBid = 3 => "one bid per account",
        ZeroBid = 4 => "a bid must be positive",
        CloseInPast = 5 => "the close height must be in the future",
    }
}

const SELLER: Item<AccountId> = Item::new(b"seller");
const CLOSE: Item<u64> = Item::new(b"close");
const HIGHEST: Item<(AccountId, u128)> = Item::new(b"highest");
const BIDS: Map<AccountId, u128> = Map::new(b"bids");

/// The auction contract.
pub struct Auction;

impl Contract for Auction {
    type Init = Init;
    type Command = Command;
    type Query = Query;

    fn init(cx: &mut Context, args: Init) -> Result<(), Error> {
        if args.close_height <= cx.height() {
            return Err(AuctionError::CloseInPast.into());
        }
        let seller = cx.caller();
        SELLER.save(cx, &seller);
        CLOSE.save(cx, &args.close_height);
        Ok(())
    }

    fn command(cx: &mut Context, command: Command) -> Result<Vec<u8>, Error> {
        match command {
            Command::Bid { amount } => {
                if cx.height() >= CLOSE.load_or(cx, 0)? {
                    return Err(AuctionError::BiddingClosed.into());
                }
                if amount == 0 {
                    return Err(AuctionError::ZeroBid.into());
                }
                let bidder = cx.caller();
                if BIDS.contains(cx, &bidder) {
                    return Err(AuctionError::AlreadyBid.into());
                }
                BIDS.save(cx, &bidder, &amount);
                let beats = match HIGHEST.load(cx)? {
                    Some((_, highest)) => amount > highest,
                    None => true,
                };
                if beats {
                    HIGHEST.save(cx, &(bidder, amount));
                }
                reply(&())
            }
        }
    }

    fn query(cx: &QueryContext, query: Query) -> Result<Vec<u8>, Error> {
        let close = CLOSE.load_or(cx, 0)?;
        match query {
            Query::CloseHeight {} => reply(&close),
            Query::MyBid {} => reply(&BIDS.load(cx, &cx.caller())?),
            Query::Result {} => {
                if cx.height() < close {
                    return Err(AuctionError::BiddingOpen.into());
                }
                reply(&HIGHEST.load(cx)?)
            }
        }
    }
}

export! {
    contract: Auction,
    init: Init { close_height: u64 },
    commands: Command {
        0 bid => Bid { amount: u128 } -> (),
    },
    queries: Query {
        0 close_height => CloseHeight {} -> u64,
        1 my_bid => MyBid {} -> Option<u128>,
        2 result => Result {} -> Option<(AccountId, u128)>,
    },
}

#[cfg(test)]
mod tests {
    use veil_sdk::mock::MockHost;

    use super::*;

    fn bid(host: &mut MockHost, who: &str, amount: u128) -> Result<Vec<u8>, Error> {
        host.set_caller(MockHost::account(who));
        host.command::<Auction>(&Command::Bid { amount })
    }

    #[test]
    fn only_the_winner_and_price_come_out_and_only_after_the_close() {
        let mut host = MockHost::new();
        host.set_height(10);
        host.init::<Auction>(&Init { close_height: 20 }).unwrap();
        bid(&mut host, "alice", 50).unwrap();
        bid(&mut host, "bob", 70).unwrap();
        bid(&mut host, "carol", 70).unwrap();

        let sealed = host.query::<Auction>(&Query::Result {}).unwrap_err();
        assert_eq!(sealed.code, AuctionError::BiddingOpen.code());
        host.set_caller(MockHost::account("alice"));
        assert_eq!(
            host.query_as::<Auction, Option<u128>>(&Query::MyBid {}),
            Ok(Some(50))
        );

        host.set_height(20);
        let late = bid(&mut host, "dave", 1_000).unwrap_err();
        assert_eq!(late.code, AuctionError::BiddingClosed.code());
        let result = host.query_as::<Auction, Option<(AccountId, u128)>>(&Query::Result {});
        assert_eq!(result, Ok(Some((MockHost::account("bob"), 70))));
    }

    #[test]
    fn a_second_bid_and_a_zero_bid_are_refused() {
        let mut host = MockHost::new();
        host.init::<Auction>(&Init { close_height: 5 }).unwrap();
        bid(&mut host, "alice", 5).unwrap();
        assert_eq!(
            bid(&mut host, "alice", 9).unwrap_err().code,
            AuctionError::AlreadyBid.code()
        );
        assert_eq!(
            bid(&mut host, "bob", 0).unwrap_err().code,
            AuctionError::ZeroBid.code()
        );
        assert_eq!(
            host.query_as::<Auction, Option<u128>>(&Query::MyBid {}),
            Ok(None)
        );
    }
}
