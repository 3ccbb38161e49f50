//! Messages between contracts and their replies, as a contract's `message` handler sees them.
//!
//! [`Context::send`](crate::Context::send) sends a message to another contract, possibly on
//! another miner; it is delivered after the sending call succeeds, in order and exactly once.
//! Every message gets exactly one reply back to its sender, carrying the id `send` returned:
//! the destination's answer, its error code (it returned an error or trapped, and its state is
//! unchanged), or "not delivered" (the destination does not exist or never ran). A contract
//! that holds something back while a message is in flight keeps it under the message's id and
//! settles it when the reply comes.
//!
//! The VM's input for `handle_message` is `0 ‖ from (32) ‖ id (u64 LE) ‖ payload` for a
//! message and `1 ‖ from (32) ‖ id (u64 LE) ‖ outcome` for a reply, the outcome being
//! `0 ‖ payload`, `1 ‖ code (u32 LE)` or `2`.

use crate::codec::{self, Decode, DecodeError};
use crate::context::ContractId;

/// Fuel a message carries when the sender does not say: for the destination's handler, and
/// again for the sender's handling of the reply. The sending call pays both.
pub const DEFAULT_MESSAGE_FUEL: u64 = 1_000_000;

/// What reached a contract's `message` handler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A message from another contract.
    Message {
        /// The sender.
        from: ContractId,
        /// Its id among the sender's messages to this contract.
        id: u64,
        /// The payload as the sender encoded it.
        payload: Vec<u8>,
    },
    /// The reply to a message this contract sent.
    Reply {
        /// The contract the message went to.
        from: ContractId,
        /// The id [`Context::send`](crate::Context::send) returned.
        id: u64,
        /// What happened.
        reply: MessageReply,
    },
}

/// How a message ended, as its sender learns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageReply {
    /// The destination handled it; its answer.
    Ok(Vec<u8>),
    /// The destination returned this error code, or trapped
    /// ([`Error::TRAPPED`](crate::Error::TRAPPED)); its state is unchanged.
    Err(u32),
    /// The destination never ran: it does not exist, or has no key or no `init` yet.
    NotDelivered,
}

impl MessageReply {
    /// The answer decoded as `T`, if the message succeeded.
    pub fn decode_ok<T: Decode>(&self) -> Option<Result<T, DecodeError>> {
        match self {
            MessageReply::Ok(bytes) => Some(codec::decode(bytes)),
            _ => None,
        }
    }
}

impl Incoming {
    /// Reads the VM's input (module docs).
    pub fn from_input(input: &[u8]) -> Result<Self, DecodeError> {
        let mut rest = input;
        let kind = u8::decode_from(&mut rest)?;
        let from = ContractId::decode_from(&mut rest)?;
        let id = u64::decode_from(&mut rest)?;
        match kind {
            0 => Ok(Incoming::Message {
                from,
                id,
                payload: rest.to_vec(),
            }),
            1 => {
                let reply = match u8::decode_from(&mut rest)? {
                    0 => MessageReply::Ok(rest.to_vec()),
                    1 => MessageReply::Err(codec::decode(rest)?),
                    2 if rest.is_empty() => MessageReply::NotDelivered,
                    2 => return Err(DecodeError::Trailing(rest.len())),
                    tag => return Err(DecodeError::BadTag(tag)),
                };
                Ok(Incoming::Reply { from, id, reply })
            }
            tag => Err(DecodeError::BadTag(tag)),
        }
    }

    /// The VM's input for this (what the mock host hands a contract).
    pub fn to_input(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Incoming::Message { from, id, payload } => {
                out.push(0);
                out.extend_from_slice(&from.0);
                out.extend_from_slice(&id.to_le_bytes());
                out.extend_from_slice(payload);
            }
            Incoming::Reply { from, id, reply } => {
                out.push(1);
                out.extend_from_slice(&from.0);
                out.extend_from_slice(&id.to_le_bytes());
                match reply {
                    MessageReply::Ok(payload) => {
                        out.push(0);
                        out.extend_from_slice(payload);
                    }
                    MessageReply::Err(code) => {
                        out.push(1);
                        out.extend_from_slice(&code.to_le_bytes());
                    }
                    MessageReply::NotDelivered => out.push(2),
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incoming_round_trips_and_garbage_is_an_error() {
        let from = ContractId([7; 32]);
        for incoming in [
            Incoming::Message {
                from,
                id: 3,
                payload: vec![1, 2, 3],
            },
            Incoming::Reply {
                from,
                id: 4,
                reply: MessageReply::Ok(vec![9]),
            },
            Incoming::Reply {
                from,
                id: 5,
                reply: MessageReply::Err(77),
            },
            Incoming::Reply {
                from,
                id: u64::MAX,
                reply: MessageReply::NotDelivered,
            },
        ] {
            assert_eq!(Incoming::from_input(&incoming.to_input()), Ok(incoming));
        }
        assert!(Incoming::from_input(&[]).is_err());
        assert!(Incoming::from_input(&[0; 10]).is_err());
        assert_eq!(
            Incoming::from_input(&[&[3u8][..], &[0; 40]].concat()),
            Err(DecodeError::BadTag(3))
        );
        let mut err = Incoming::Reply {
            from,
            id: 1,
            reply: MessageReply::Err(1),
        }
        .to_input();
        err.push(0);
        assert!(Incoming::from_input(&err).is_err());
    }
}
