//! A response body read up to a limit. Every side of the lab that reads a peer's body (the RS's
//! JWKS and introspection clients, the scenario runner, the conforming client, the AS's client ID
//! metadata document fetch) feeds the chunks it receives into a [`BoundedBody`], so a body larger
//! than the limit is refused before it is buffered, and a declared `Content-Length` over the limit
//! is refused before a byte is read. The reading itself (async, IO) stays with the caller.

/// A body went over its limit, declared or received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("body is larger than {limit} bytes")]
pub struct TooLarge {
    pub limit: usize,
}

/// The bytes of a body received so far; never more than its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundedBody {
    limit: usize,
    bytes: Vec<u8>,
}

impl BoundedBody {
    /// An empty body of at most `limit` bytes. `declared` is the peer's `Content-Length`, when it
    /// sent one: a declared length over the limit is refused at once, since reading it could only
    /// end in the same refusal. A declared length is never trusted the other way: a peer that
    /// declares less and sends more is still stopped by [`BoundedBody::push`].
    pub fn new(limit: usize, declared: Option<u64>) -> Result<Self, TooLarge> {
        // A `u64` that does not fit a `usize` is over any limit.
        if declared.is_some_and(|length| usize::try_from(length).map_or(true, |length| length > limit)) {
            return Err(TooLarge { limit });
        }
        Ok(Self { limit, bytes: Vec::new() })
    }

    /// Appends a chunk, or refuses it, leaving the body as it was, when it would take the body
    /// over the limit.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), TooLarge> {
        if chunk.len() > self.limit - self.bytes.len() {
            return Err(TooLarge { limit: self.limit });
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    /// The bytes received so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The whole body.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_up_to_the_limit_are_kept_in_order() {
        let mut body = BoundedBody::new(6, None).unwrap();
        for chunk in [&b"ab"[..], b"", b"cd", b"ef"] {
            body.push(chunk).unwrap();
        }
        assert_eq!(body.as_bytes(), b"abcdef");
        // Full to the byte: an empty chunk still fits, one more byte does not.
        body.push(b"").unwrap();
        assert_eq!(body.push(b"g"), Err(TooLarge { limit: 6 }));
        assert_eq!(body.into_bytes(), b"abcdef");
    }

    #[test]
    fn a_refused_chunk_leaves_the_body_as_it_was() {
        let mut body = BoundedBody::new(4, None).unwrap();
        body.push(b"abc").unwrap();
        assert_eq!(body.push(b"de"), Err(TooLarge { limit: 4 }));
        assert_eq!(body.as_bytes(), b"abc");
        // A smaller chunk after a refusal still fits what is left.
        body.push(b"d").unwrap();
        assert_eq!(body.into_bytes(), b"abcd");
    }

    #[test]
    fn one_chunk_larger_than_the_limit_is_refused_whole() {
        let mut body = BoundedBody::new(3, None).unwrap();
        assert_eq!(body.push(&[0; 1024]), Err(TooLarge { limit: 3 }));
        assert!(body.as_bytes().is_empty());
    }

    #[test]
    fn a_declared_length_over_the_limit_is_refused_before_reading() {
        assert_eq!(BoundedBody::new(5, Some(6)), Err(TooLarge { limit: 5 }));
        assert_eq!(BoundedBody::new(5, Some(u64::MAX)), Err(TooLarge { limit: 5 }));
        assert!(BoundedBody::new(5, Some(5)).is_ok());
        assert!(BoundedBody::new(5, Some(0)).is_ok());
    }

    #[test]
    fn a_declared_length_is_no_licence_to_send_more() {
        // The peer declares 2 bytes and sends 6: the limit, not the declaration, decides.
        let mut body = BoundedBody::new(4, Some(2)).unwrap();
        body.push(b"abc").unwrap();
        assert_eq!(body.push(b"def"), Err(TooLarge { limit: 4 }));
    }

    #[test]
    fn a_zero_limit_takes_only_empty_bodies() {
        let mut body = BoundedBody::new(0, Some(0)).unwrap();
        body.push(b"").unwrap();
        assert_eq!(body.push(b"x"), Err(TooLarge { limit: 0 }));
        assert_eq!(BoundedBody::new(0, Some(1)), Err(TooLarge { limit: 0 }));
    }

    #[test]
    fn the_refusal_reads_after_failed_to() {
        assert_eq!(TooLarge { limit: 5120 }.to_string(), "body is larger than 5120 bytes");
    }
}
