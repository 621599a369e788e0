//! What requests inside a call mean, and the content of REFER and INFO.

use super::*;
use crate::dialog::fixtures::request;

const RINGING: LegsUp = LegsUp {
    a_answered: false,
    bridged: false,
};
const IN_IVR: LegsUp = LegsUp {
    a_answered: true,
    bridged: false,
};
const BRIDGED: LegsUp = LegsUp {
    a_answered: true,
    bridged: true,
};

fn in_dialog(method: &str, extra: &str, body: &str) -> Request {
    request(&format!(
        "{method} sip:callcore@10.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bK-1
From: <sip:1001@acme>;tag=ph1
To: <sip:13800138000@10.0.0.1>;tag=cc-b
Call-ID: leg-b@callcore
CSeq: 2 {method}
{extra}

{body}"
    ))
}

#[test]
fn before_the_answer_only_the_caller_s_cancel_and_options_mean_something() {
    assert_eq!(
        decide(&Method::Cancel, false, Which::A, RINGING),
        InDialog::CancelBeforeAnswer
    );
    assert_eq!(
        decide(&Method::Options, false, Which::A, RINGING),
        InDialog::Options
    );
    for method in [Method::Bye, Method::Invite, Method::Update, Method::Info] {
        assert_eq!(
            decide(&method, false, Which::A, RINGING),
            InDialog::NotImplemented,
            "{method}"
        );
    }
    assert_eq!(
        decide(&Method::Cancel, false, Which::B, RINGING),
        InDialog::NotImplemented
    );
}

#[test]
fn a_caller_alone_in_the_call_leaves_with_its_bye() {
    assert_eq!(
        decide(&Method::Bye, false, Which::A, IN_IVR),
        InDialog::CallerLeaves
    );
    assert_eq!(
        decide(&Method::Cancel, false, Which::A, IN_IVR),
        InDialog::NotImplemented
    );
    assert_eq!(
        decide(&Method::Invite, true, Which::A, IN_IVR),
        InDialog::Renegotiate
    );
    assert_eq!(
        decide(&Method::Info, true, Which::A, IN_IVR),
        InDialog::Digit
    );
    // The b leg still rings: nothing it sends in the dialog counts yet.
    assert_eq!(
        decide(&Method::Invite, true, Which::B, IN_IVR),
        InDialog::NotImplemented
    );
    assert_eq!(
        decide(&Method::Bye, false, Which::B, IN_IVR),
        InDialog::NotImplemented
    );
}

#[test]
fn either_side_of_a_bridge_hangs_up_or_renegotiates() {
    for which in [Which::A, Which::B] {
        assert_eq!(
            decide(&Method::Bye, false, which, BRIDGED),
            InDialog::HangUp
        );
        assert_eq!(
            decide(&Method::Invite, true, which, BRIDGED),
            InDialog::Renegotiate
        );
        assert_eq!(
            decide(&Method::Update, true, which, BRIDGED),
            InDialog::Renegotiate
        );
        assert_eq!(
            decide(&Method::Update, false, which, BRIDGED),
            InDialog::Refresh
        );
        assert_eq!(decide(&Method::Info, true, which, BRIDGED), InDialog::Digit);
        assert_eq!(
            decide(&Method::Message, true, which, BRIDGED),
            InDialog::NotImplemented
        );
    }
    assert_eq!(Which::A.other(), Which::B);
}

#[test]
fn only_the_answered_called_side_transfers() {
    assert_eq!(
        decide(&Method::Refer, false, Which::B, BRIDGED),
        InDialog::Transfer
    );
    assert_eq!(
        decide(&Method::Refer, false, Which::A, BRIDGED),
        InDialog::RefuseTransfer
    );
    assert_eq!(
        decide(&Method::Refer, false, Which::B, IN_IVR),
        InDialog::RefuseTransfer
    );
}

#[test]
fn the_refer_target_is_the_user_of_refer_to() {
    let refer = in_dialog("REFER", "Refer-To: \"Desk\" <sip:1002@acme;user=phone>", "");
    assert_eq!(refer_target(&refer), Ok("1002".into()));
    let bare = in_dialog("REFER", "Refer-To: sip:013800138000@10.0.0.1", "");
    assert_eq!(refer_target(&bare), Ok("013800138000".into()));
    let attended = in_dialog(
        "REFER",
        "Refer-To: <sip:1002@acme?Replaces=abc%3Bto-tag%3Dx%3Bfrom-tag%3Dy>",
        "",
    );
    assert_eq!(
        refer_target(&attended),
        Err((501, "Not Implemented (attended transfer)"))
    );
    let missing = in_dialog("REFER", "Subject: none", "");
    assert_eq!(refer_target(&missing).map_err(|e| e.0), Err(400));
    let no_user = in_dialog("REFER", "Refer-To: <sip:acme>", "");
    assert_eq!(refer_target(&no_user).map_err(|e| e.0), Err(400));
}

#[test]
fn info_keys_are_read_from_dtmf_relay_and_dtmf_bodies() {
    let relay = in_dialog(
        "INFO",
        "Content-Type: application/dtmf-relay",
        "Signal=5\nDuration=160\n",
    );
    assert_eq!(info_digit(&relay), Some('5'));
    let plain = in_dialog("INFO", "Content-Type: application/dtmf", "#\n");
    assert_eq!(info_digit(&plain), Some('#'));
    let lower = in_dialog(
        "INFO",
        "Content-Type: application/dtmf-relay",
        "signal = a\n",
    );
    assert_eq!(info_digit(&lower), Some('A'));
    for body in ["Signal=55\n", "Signal=x\n", "\n"] {
        let bad = in_dialog("INFO", "Content-Type: application/dtmf-relay", body);
        assert_eq!(info_digit(&bad), None, "{body:?}");
    }
}
