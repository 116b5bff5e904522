//! The cfg language end to end: text → compiled program → run on a
//! parsed INVITE. Expected values were measured on Kamailio 5.6 with the
//! same snippets (README "cfg language").

mod common;
use common::{compile, out, run};

fn lines(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn message_pvs() {
    assert_eq!(
        out(r#"xlog("$rm|$ru|$rU|$rd|$rp|$rz|$fu|$fU|$fd|$fn|$ft|$tu|$tU|$td|$tt|$ci|$cs|$si|$sp|$Ri|$Rp|$pr|$ua|$bs|$rb");"#),
        lines(&["INVITE|sip:bob@example.com:5070;transport=udp|bob|example.com|5070|sip|sip:alice@a.example|alice|a.example|\"Alice A\"|1928|sip:bob@example.com|bob|example.com|<null>|c1@10.0.0.5|7|10.0.0.5|5062|127.0.0.1|5060|udp|TestUA/1.0|4|v=0"])
    );
    assert_eq!(
        out(
            r#"xlog("$hdr(X-Custom) $(hdr(X-Custom)[1]) $(hdr(x-custom)[-1]) $(hdr(X-Custom)[*]) $hdrc(X-Custom) $hdr(v) $hdr(Nope)");"#
        ),
        lines(&["one two two one,two 2 SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKabc;rport <null>"])
    );
    assert_eq!(
        out(r#"xlog("$ml $cT $ct");"#),
        lines(&[&format!("{} application/sdp <sip:alice@10.0.0.5:5062>", common::INVITE.len())])
    );
}

#[test]
fn kamailio_typing() {
    // each value measured on Kamailio 5.6.3
    let o = out(r#"
        $var(a) = $null; xlog("1 [$var(a)]");
        $var(b) = "5"; $var(c) = $var(b) + 3; xlog("2 [$var(c)]");
        $var(d) = 3 + $var(b); xlog("3 [$var(d)]");
        $var(e) = "ab" + 1 + 2; xlog("4 [$var(e)]");
        if ("10" == 10) xlog("5 true"); else xlog("5 false");
        if ("abc" == 0) xlog("6 true"); else xlog("6 false");
        if ($var(unset) == $null) xlog("7 true"); else xlog("7 false");
        if ($avp(nx) == "") xlog("8 true"); else xlog("8 false");
        if ($avp(nx) == 0) xlog("9 true"); else xlog("9 false");
        $var(i) = 0; if ($var(i) == "abc") xlog("10 true"); else xlog("10 false");
        $var(t) = "abc"; if ($var(t) < 5) xlog("11 true"); else xlog("11 false");
        $var(n) = $null + 1; xlog("12 [$var(n)]");
        $var(m) = "x" + $null; xlog("13 [$var(m)]");
        if (!$var(t)) xlog("14 true"); else xlog("14 false");
        $var(u) = $var(t) + 5 + 6; xlog("15 [$var(u)]");
        $var(q) = 5 - 7; xlog("16 [$var(q)]");
        $var(w) = (1 << 3) | 2; xlog("17 [$var(w)]");
        $var(x) = -1; if ($var(x)) xlog("18 true"); else xlog("18 false");
        if ("ABC" =~ "abc") xlog("19 true"); else xlog("19 false");
        $var(y) = "12abc"; $var(z) = 1 + $var(y); xlog("20 [$var(z)] [$(var(y){s.int})]");
        $var(k) = 7 mod 3; $var(l) = (0 - 7) mod 3; $var(j) = 7 / 2; xlog("21 $var(k) $var(l) $var(j)");
        $var(dz) = 5; $var(dz) = 7 / 0; xlog("22 [$var(dz)]");
        $var(bn) = ~(0 - 5); xlog("23 [$var(bn)]");
        xlog("24 [$avp(nope)]");
    "#);
    assert_eq!(
        o,
        lines(&[
            "1 [0]",
            "2 [53]",
            "3 [8]",
            "4 [ab12]",
            "5 true",
            "6 false",
            "7 false",
            "8 true",
            "9 true",
            "10 true",
            "11 true",
            "12 [1]",
            "13 [x]",
            "14 true",
            "15 [abc56]",
            "16 [-2]",
            "17 [10]",
            "18 false",
            "19 true",
            "20 [1] []",
            "21 1 -1 3",
            "22 [5]",
            "23 [4]",
            "24 [<null>]",
        ])
    );
}

#[test]
fn avp_and_xavp_stacks() {
    let o = out(r#"
        $avp(a) = 1; $avp(a) = "two"; $avp(a) = 3;
        xlog("1 [$avp(a)] [$(avp(a)[0])] [$(avp(a)[1])] [$(avp(a)[2])] [$(avp(a)[*])]");
        $avp(a) = $null; xlog("2 [$avp(a)]");
        $(avp(a)[*]) = 9; xlog("3 [$avp(a)] [$(avp(a)[1])]");
        $avp(s:a) = 10; xlog("4 [$avp(a)]");
        $avp(i:5) = "five"; xlog("5 [$avp(i:5)]");
        $xavp(x=>a) = 1; $xavp(x=>b) = 2; $xavp(x[0]=>c) = 3;
        xlog("6 [$xavp(x=>a)] [$xavp(x=>b)] [$xavp(x[1]=>a)] [$xavp(x=>c)]");
    "#);
    assert_eq!(
        o,
        lines(&[
            "1 [3] [3] [two] [1] [3,two,1]",
            "2 [two]",
            "3 [9] [<null>]",
            "4 [10]",
            "5 [five]",
            "6 [<null>] [2] [1] [3]"
        ])
    );
}

#[test]
fn control_flow_and_return_codes() {
    let o = run(r#"
        route[R0] { return 0; }
        route[RN] { return -2; }
        route[RP] { return 3; }
        route[RNONE] { $var(zz) = 1; }
        request_route {
            route(RN); xlog("1 rc=$rc retcode=$retcode");
            route(RNONE); xlog("2 rc=$rc");
            if (route(RN)) xlog("3 true"); else xlog("3 false rc=$rc");
            $var(c) = 5;
            switch ($var(c)) {
                case 4: xlog("4 case4");
                case 5: xlog("4 case5");
                case 6: xlog("4 case6"); break;
                default: xlog("4 default");
            }
            $var(s) = "abc";
            switch ($var(s)) { case "abc": xlog("5 abc"); break; default: xlog("5 default"); }
            switch ($var(s)) { case "x": xlog("6 x"); default: xlog("6 default"); }
            $var(i) = 0;
            while ($var(i) < 1000) { $var(i) = $var(i) + 1; }
            xlog("7 i=$var(i)");
            $var(i) = 0;
            while (1) { $var(i) = $var(i) + 1; if ($var(i) == 7) break; }
            xlog("8 i=$var(i)");
            if (ret(-1)) xlog("9 true"); else xlog("9 false rc=$rc");
            ret(5); xlog("10 rc=$rc");
            route(RP); xlog("11 rc=$rc");
            route(R0);
            xlog("not reached");
        }
    "#);
    assert_eq!(
        run_out(&o),
        lines(&[
            "1 rc=-2 retcode=-2",
            "2 rc=1",
            "3 false rc=-2",
            "4 case5",
            "4 case6",
            "5 abc",
            "6 default",
            "7 i=100",
            "8 i=7",
            "9 false rc=-1",
            "10 rc=5",
            "11 rc=3"
        ])
    );
    assert!(o.outcome.exited);
}

fn run_out(r: &common::Run) -> Vec<String> {
    r.out.clone()
}

#[test]
fn function_returning_zero_stops_the_script() {
    let r = run("request_route { xlog(\"a\"); ret(0); xlog(\"b\"); }");
    assert_eq!(r.out, lines(&["a"]));
    assert!(r.outcome.exited);
    let r = run("request_route { xlog(\"a\"); drop; xlog(\"b\"); }");
    assert!(r.outcome.dropped);
    assert_eq!(r.out, lines(&["a"]));
    let r = run("request_route { return 5; }");
    assert_eq!(r.outcome.retcode, 5);
}

#[test]
fn transformations() {
    let o = out(r#"
        $var(s) = "abc";
        xlog("1 [$(var(s){s.len})] [$(var(s){s.substr,1,0})] [$(var(s){s.substr,-2,1})] [$(var(s){s.select,0,b})] [$(var(s){s.strip,1})] [$(var(s){s.toupper})] [$(var(s){s.md5})] [$(var(s){s.encode.hexa})]");
        xlog("2 [$(ru{uri.user})] [$(ru{uri.host})] [$(ru{uri.port})] [$(ru{uri.param,transport})] [$(ru{uri.params})]");
        $var(p) = "a=1;b=2;c";
        xlog("3 [$(var(p){param.value,b})] [$(var(p){param.count})] [$(var(p){param.value,c})] [$(var(p){param.value,z})]");
        xlog("4 [$(hdr(From){nameaddr.uri})] [$(hdr(From){nameaddr.name})] [$(hdr(From){tobody.tag})] [$(hdr(From){tobody.user})]");
        $var(l) = "a\nb\nc"; xlog("5 [$(var(l){line.count})] [$(ru{uri.user}{s.len})] [$(var(s){s.select,-1,b})]");
        $var(i) = 1; xlog("6 [$(var(s){s.substr,$var(i),1})]");
    "#);
    assert_eq!(
        o,
        lines(&[
            "1 [3] [bc] [b] [a] [bc] [ABC] [900150983cd24fb0d6963f7d28e17f72] [616263]",
            "2 [bob] [example.com] [5070] [udp] [transport=udp]",
            "3 [2] [3] [] []",
            "4 [sip:alice@a.example] [\"Alice A\" ] [1928] [alice]",
            "5 [3] [3] [c]",
            "6 [b]",
        ])
    );
}

#[test]
fn ruri_rewrites_and_core_functions() {
    let r = run(r#"
        request_route {
            rewriteuser("carol"); xlog("1 $ru");
            rewritehost("h.example"); xlog("2 $ru");
            rewritehostport("h2.example:5080"); xlog("3 $ru");
            prefix("+1"); xlog("4 $rU");
            strip(2); xlog("5 $rU");
            strip_tail(1); xlog("6 $rU");
            $rU = "dave"; $rd = "d.example"; $rp = 5099; xlog("7 $ru");
            $rp = 0; xlog("8 $ru");
            $rp = $null; xlog("8b $ru");
            revert_uri(); xlog("9 $ru");
            $ru = "sip:x@y.example"; xlog("10 $ru $rU");
            $du = "sip:10.1.1.1:5090"; if (isdsturiset()) xlog("11 $du");
            append_branch("sip:b1@z.example"); xlog("12 $br $bR");
            if (is_myself("sip:127.0.0.1:5060")) xlog("13 myself");
            if (!is_myself("sip:8.8.8.8")) xlog("14 not myself");
        }
    "#
    .replace("request_route {", "listen=udp:127.0.0.1:5060\nrequest_route {")
    .as_str());
    assert_eq!(
        r.out,
        lines(&[
            "1 sip:carol@example.com:5070;transport=udp",
            "2 sip:carol@h.example:5070;transport=udp",
            "3 sip:carol@h2.example:5080;transport=udp",
            "4 +1carol",
            "5 carol",
            "6 caro",
            "7 sip:dave@d.example:5099;transport=udp",
            "8 sip:dave@d.example:0;transport=udp",
            "8b sip:dave@d.example;transport=udp",
            "9 sip:bob@example.com:5070;transport=udp",
            "10 sip:x@y.example x",
            "11 sip:10.1.1.1:5090",
            "12 sip:b1@z.example sip:b1@z.example",
            "13 myself",
            "14 not myself",
        ])
    );
}

#[test]
fn flags_named_defined_and_numbered() {
    let r = run(r#"
        #!define FLT_ACC 1
        flags FLAG_NAT: 5, FLAG_AUTO
        request_route {
            setflag(FLT_ACC); setflag(FLAG_NAT); setflag(FLAG_AUTO); setflag(31);
            if (isflagset(FLAG_NAT)) xlog("nat");
            resetflag(31);
            if (!isflagset(31)) xlog("31 reset");
            setbflag(FLAG_NAT); if (isbflagset(5)) xlog("bflag");
            setsflag(3); if (issflagset(3)) xlog("sflag");
            xlog("mf=$mf");
        }
    "#);
    // FLAG_AUTO takes the first free bit (0)
    assert_eq!(r.flags, (1 << 1) | (1 << 5) | 1);
    assert_eq!(r.out, lines(&["nat", "31 reset", "bflag", "sflag", "mf=35"]));
}

#[test]
fn match_expressions() {
    let r = run(r#"
        listen=udp:127.0.0.1:5060
        alias=example.com:5070
        request_route {
            if (uri == myself) xlog("uri myself");
            if (from_uri != myself) xlog("from not myself");
            if (src_ip == 10.0.0.0/8) xlog("src in 10/8");
            if (src_ip != 192.168.0.0/16) xlog("src not in 192.168/16");
            if (dst_ip == myself) xlog("dst myself");
            if (proto == UDP) xlog("udp");
            if (proto != TCP) xlog("not tcp");
            if (method == "INVITE") xlog("method");
            if (method == "invite") xlog("method icase");
            if (method != "ACK") xlog("method ne");
            if (method =~ "^inv") xlog("method re");
            if (uri =~ "transport=udp") xlog("uri re");
            if (src_port == 5062) xlog("sport");
            if (af == INET) xlog("inet");
            if (msg:len > 100) xlog("long");
            if ($ua =~ "friendly|scanner") xlog("scanner"); else xlog("no scanner");
            if (is_method("INVITE|REGISTER") && !is_method("ACK")) xlog("is_method");
            if (defined $ru && !defined $avp(x)) xlog("defined");
            if (strlen($rU) == 3 && strempty($avp(x))) xlog("strlen");
        }
    "#);
    assert_eq!(
        r.out,
        lines(&[
            "uri myself",
            "from not myself",
            "src in 10/8",
            "src not in 192.168/16",
            "dst myself",
            "udp",
            "not tcp",
            "method",
            "method icase",
            "method ne",
            "method re",
            "uri re",
            "sport",
            "inet",
            "long",
            "no scanner",
            "is_method",
            "defined",
            "strlen",
        ])
    );
}

#[test]
fn vars_persist_across_messages_in_a_worker() {
    let prog =
        compile(r#"request_route { $var(n) = $var(n) + 1; $avp(a) = $avp(a) + 1; xlog("$var(n) $avp(a)"); }"#).unwrap();
    let mut proc = sipr_core::cfg::ProcState::default();
    let a = common::run_with(&prog, common::INVITE, &mut proc);
    let b = common::run_with(&prog, common::INVITE, &mut proc);
    // $var lives in the worker (as Kamailio's), AVPs die with the message
    assert_eq!(a.out, lines(&["1 1"]));
    assert_eq!(b.out, lines(&["2 1"]));
}

#[test]
fn forward_sends_the_rewritten_request() {
    let r = run(r#"
        listen=udp:127.0.0.1:5060
        request_route { force_rport(); $ru = "sip:bob@10.9.9.9:5099"; forward(); }
    "#);
    assert_eq!(r.sent.len(), 1);
    let s = &r.sent[0];
    assert_eq!((s.host.as_slice(), s.port), (&b"10.9.9.9"[..], Some(5099)));
    let text = String::from_utf8_lossy(&s.data);
    assert!(
        text.starts_with("INVITE sip:bob@10.9.9.9:5099 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK"),
        "{text}"
    );
    // received right after the sent-by, as Kamailio's forward writes it
    assert!(
        text.contains("Via: SIP/2.0/UDP 10.0.0.5:5062;received=10.0.0.5;branch=z9hG4bKabc;rport=5062\r\n"),
        "{text}"
    );
    // Kamailio's forward() leaves Max-Forwards to the maxfwd module
    assert!(text.contains("Max-Forwards: 70\r\n"), "{text}");
    let r = run(r#"request_route { $du = "sip:10.1.1.1:5090;transport=tcp"; forward(); forward("10.2.2.2", 5070); }"#);
    assert_eq!(r.sent[0].port, Some(5090));
    assert_eq!(r.sent[0].proto, Some(sipr_core::net::Proto::Tcp));
    assert_eq!((r.sent[1].host.as_slice(), r.sent[1].port), (&b"10.2.2.2"[..], Some(5070)));
}

#[test]
fn core_params_and_modules() {
    let p = compile(
        r#"
        debug=3
        log_stderror=yes
        log_facility=LOG_LOCAL0
        children=4
        listen=udp:127.0.0.1:5060 advertise 192.0.2.1:5060
        listen=tcp:127.0.0.1:5060
        alias="sip.example.com"
        disable_tcp=no
        server_header="Server: sipr"
        tcp_connection_lifetime=3605
        pstn.gw_ip = "" desc "PSTN GW Address"
        loadmodule "tm.so"
        loadmodule "sl"
        modparam("tm", "fr_timer", 30000)
        modparam("tm", "x", "a" "b")
        request_route { exit; }
    "#,
    )
    .unwrap();
    assert_eq!(p.core.debug, 3);
    assert!(p.core.log_stderror);
    assert_eq!(p.core.children, 4);
    assert_eq!(p.core.listen.len(), 2);
    assert_eq!(p.core.listen[0].advertise, Some(("192.0.2.1".into(), 5060)));
    assert_eq!(p.core.aliases, vec![("sip.example.com".to_string(), 0)]);
    assert_eq!(p.core.tcp_connection_lifetime, 3605);
    assert_eq!(p.modules, vec!["tm.so".to_string(), "sl".to_string()]);
    assert_eq!(p.custom[0].name, "pstn.gw_ip");
}

#[test]
fn runtime_errors_name_the_cfg_line() {
    common::capture_logs();
    let prog = compile("request_route {\n  xlog(\"[$fU]\");\n  $var(x) = 1 / 0;\n  $ru = \"not a uri\";\n}\n").unwrap();
    let bad_from = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:alice@a\r\nTo: <sip:b@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    let mut proc = sipr_core::cfg::ProcState::default();
    let r = common::run_with(&prog, bad_from, &mut proc);
    assert_eq!(r.out, lines(&["[<null>]"]));
    let logs = common::logs().join("\n");
    assert!(logs.contains("test.cfg:2:3: cannot read a pseudo-variable: the From header does not parse"), "{logs}");
    assert!(logs.contains("test.cfg:3:3: expression evaluation failed (DivByZero), $var(x) not assigned"), "{logs}");
    assert!(logs.contains("test.cfg:4:3: cannot assign $ru: invalid URI 'not a uri'"), "{logs}");
}

#[test]
fn counter_increment_keeps_kamailio_typing() {
    // `$var(x) = $var(x) + 1` is done in place for ints; a string there
    // still concatenates (left operand decides)
    let o =
        out(r#"$var(n) = 1; $var(n) = $var(n) + 1; $var(s) = "a"; $var(s) = $var(s) + 1; xlog("$var(n) $var(s)");"#);
    assert_eq!(o, lines(&["2 a1"]));
    let o = out(r#"$avp(x) = "v1"; $avp(x) = "v2"; $avp(x) = $null; $avp(y) = "w"; xlog("$avp(x) $avp(y)");"#);
    assert_eq!(o, lines(&["v1 w"]));
}

#[test]
fn forward_uses_the_listen_advertise_address() {
    let r = run(r#"
        listen=udp:127.0.0.1:5060 advertise 203.0.113.7:5080
        request_route { forward("10.9.9.9", 5060); set_advertised_address("198.51.100.1"); forward("10.9.9.9", 5060); }
    "#);
    let first = String::from_utf8_lossy(&r.sent[0].data).into_owned();
    assert!(first.contains("\r\nVia: SIP/2.0/UDP 203.0.113.7:5080;branch="), "{first}");
    let second = String::from_utf8_lossy(&r.sent[1].data).into_owned();
    assert!(second.contains("\r\nVia: SIP/2.0/UDP 198.51.100.1:5080;branch="), "{second}");
}
