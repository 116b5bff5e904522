//! Debian's stock kamailio.cfg (installed by `make test` with the
//! kamailio package) compiles end to end under its feature defines, with
//! every module function a **stub that returns 1**: these tests prove that
//! the cfg language takes the whole file (and that its request_route runs
//! to its end), not how the modules behave — behaviour is checked against
//! the real Kamailio on the differential bed (test/diff).

mod common;

use std::path::Path;

use sipr_core::cfg::{Defines, ProcState, PvRegistry};

const STOCK: &str = "/etc/kamailio/kamailio.cfg";

fn load_stock(defines: &[&str]) -> Result<sipr_core::cfg::Program, String> {
    if !Path::new(STOCK).exists() {
        panic!("{STOCK} not installed (make test installs it: apt-get install kamailio)");
    }
    let mut loader = common::StubLoader::default();
    let defs = Defines::from_args(defines.iter().copied());
    sipr_core::cfg::load(Path::new(STOCK), defs, common::test_fns(), PvRegistry::core(), &mut loader)
        .map_err(|e| e.to_string())
}

fn compile_stock(defines: &[&str]) -> Option<sipr_core::cfg::Program> {
    Some(load_stock(defines).unwrap_or_else(|e| panic!("stock cfg with {defines:?} does not compile:\n{e}")))
}

#[test]
fn stock_cfg_compiles_with_stub_modules() {
    let Some(p) = compile_stock(&[]) else { return };
    for r in ["REQINIT", "RELAY", "WITHINDLG", "REGISTRAR", "LOCATION", "AUTH", "NATMANAGE", "SIPOUT", "PSTN"] {
        assert!(p.route(sipr_core::cfg::RouteKind::Request, r).is_some(), "route {r}");
    }
    assert!(p.reply_route.is_some());
    assert_eq!(p.core.children, 8);
    assert_eq!(p.core.tcp_connection_lifetime, 3605);
    assert_eq!(p.core.log_facility, "LOG_LOCAL0");
    // the request_route runs (stubs say yes to everything): ends in exit
    let mut proc = ProcState::default();
    let r = common::run_with(&p, common::INVITE, &mut proc);
    assert!(r.outcome.exited);
}

#[test]
fn stock_cfg_every_feature_but_tls_compiles_with_stub_modules() {
    let all = [
        "WITH_DEBUG",
        "WITH_MYSQL",
        "WITH_AUTH",
        "WITH_IPAUTH",
        "WITH_USRLOCDB",
        "WITH_PRESENCE",
        "WITH_NAT",
        "WITH_RTPENGINE",
        "WITH_ANTIFLOOD",
        "WITH_BLOCK3XX",
        "WITH_BLOCK401407",
        "WITH_VOICEMAIL",
        "WITH_ACCDB",
        "WITH_JSONRPC",
        "WITH_PSTN",
        "WITH_ALIASDB",
        "WITH_SPEEDDIAL",
        "WITH_MULTIDOMAIN",
    ];
    let Some(p) = compile_stock(&all) else { return };
    assert!(p.modules.iter().any(|m| m == "htable.so"));
    assert!(p.custom.iter().any(|c| c.name == "pstn.gw_ip"));
    // NAT without rtpengine selects rtpproxy
    let Some(p) = compile_stock(&["WITH_MYSQL", "WITH_NAT", "WITH_AUTH", "WITH_USRLOCDB"]) else { return };
    assert!(p.modules.iter().any(|m| m == "rtpproxy.so"));
    let mut proc = ProcState::default();
    let r = common::run_with(&p, common::INVITE, &mut proc);
    assert!(r.outcome.exited);
}

#[test]
fn stock_cfg_with_tls_is_refused_not_ignored() {
    // WITH_TLS sets enable_tls=yes: sipr has no TLS yet and must say so
    // where the cfg asks for it rather than start without the listener
    let e = load_stock(&["WITH_TLS"]).map(|_| ()).unwrap_err();
    let line = std::fs::read_to_string(STOCK).unwrap().lines().position(|l| l.trim() == "enable_tls=yes").unwrap() + 1;
    assert!(e.contains(&format!("{STOCK}:{line}:12: enable_tls=yes: TLS is not supported by sipr yet")), "{e}");
}
