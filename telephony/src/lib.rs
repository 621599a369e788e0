//! Telephony: SIP (rsip confined to one module), transactions, dialogs, RTP media and the call
//! runtime. Nothing lives here yet; the crate holds its place in the layout so that the
//! dependency rules are checked from the start.
