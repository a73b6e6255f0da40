use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;
use crate::script::{INVALID_HEALTH_STATUS, eval_health_script};
use crate::status::{HealthStatus, HealthStatusCode};

fn health(script: &str, obj: &Value) -> Result<Option<HealthStatus>, LuaError> {
    eval_health_script(&LuaRuntime::default(), script, Libraries::Open, obj)
}

fn health_restricted(script: &str, obj: &Value) -> Result<Option<HealthStatus>, LuaError> {
    eval_health_script(&LuaRuntime::default(), script, Libraries::Restricted, obj)
}

/// Evaluates an expression and returns it via the message field, as a string.
fn expr(expression: &str, obj: &Value) -> String {
    let script = format!("return {{status = 'Healthy', message = tostring({expression})}}");
    health(&script, obj).unwrap().unwrap().message
}

#[test]
fn result_table_status_and_message() {
    let got = health("return {status = 'Degraded', message = 'boom'}", &json!({})).unwrap();
    assert_eq!(got, Some(HealthStatus::degraded("boom")));
    let got = health("hs = {} hs.status = 'Healthy' return hs", &json!({})).unwrap();
    assert_eq!(got, Some(HealthStatus::healthy("")));
}

#[test]
fn invalid_status_is_unknown_with_argo_message() {
    for script in [
        "return {status = 'Fine'}",
        "return {status = 'healthy'}",
        "return {status = 3}",
        "return {message = 'no status'}",
    ] {
        let got = health(script, &json!({})).unwrap();
        assert_eq!(
            got,
            Some(HealthStatus::unknown(INVALID_HEALTH_STATUS)),
            "{script}"
        );
    }
}

#[test]
fn nil_empty_table_and_list_give_no_status() {
    assert_eq!(health("return nil", &json!({})).unwrap(), None);
    assert_eq!(health("return", &json!({})).unwrap(), None);
    assert_eq!(health("return {}", &json!({})).unwrap(), None);
    assert_eq!(health("return {1, 2}", &json!({})).unwrap(), None);
}

#[test]
fn non_table_results_are_errors_with_the_lua_type() {
    for (script, kind) in [
        ("return 1", "number"),
        ("return 1.5", "number"),
        ("return 'Healthy'", "string"),
        ("return true", "boolean"),
        ("return function() end", "function"),
    ] {
        let err = health(script, &json!({})).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("expect table output from Lua script, not {kind}"),
            "{script}"
        );
    }
}

#[test]
fn keys_match_case_insensitively_like_go_json() {
    let got = health("return {Status = 'Suspended', Message = 'x'}", &json!({})).unwrap();
    assert_eq!(got, Some(HealthStatus::suspended("x")));
}

#[test]
fn runtime_errors_carry_the_lua_message_without_traceback() {
    let err = health("local x = nil\nreturn x.y", &json!({})).unwrap_err();
    let LuaError::Runtime(message) = &err else {
        panic!("{err:?}")
    };
    assert!(message.starts_with("<string>:2: attempt to index"), "{message}");
    assert!(!message.contains("traceback"), "{message}");
    let err = health("error('custom failure')", &json!({})).unwrap_err();
    assert_eq!(err, LuaError::Runtime("<string>:1: custom failure".into()));
    let err = health(
        "return obj.status.replicas < obj.spec.replicas",
        &json!({"spec": {"replicas": 1}, "status": {}}),
    )
    .unwrap_err();
    assert!(err.to_string().contains("attempt to compare"), "{err}");
}

#[test]
fn syntax_errors_are_reported() {
    let err = health("if then", &json!({})).unwrap_err();
    assert!(matches!(err, LuaError::Syntax(_)), "{err:?}");
    assert!(LuaRuntime::default().check_compiles("return {").is_err());
    assert!(LuaRuntime::default().check_compiles("return {}").is_ok());
}

#[test]
fn goto_is_supported_as_in_gopher_lua() {
    let script = r#"
hs = { status = "Healthy", message = "" }
for i, c in ipairs(obj.status.conditions) do
  if c.type ~= "Ready" then goto continue end
  if c.status ~= "True" then
    hs.status = "Degraded"
    hs.message = c.message
    return hs
  end
  ::continue::
end
return hs
"#;
    let obj = json!({"status": {"conditions": [{"type": "Other", "status": "False"}, {"type": "Ready", "status": "False", "message": "not ready"}]}});
    assert_eq!(
        health(script, &obj).unwrap(),
        Some(HealthStatus::degraded("not ready"))
    );
}

#[test]
fn infinite_loop_times_out_quickly_and_the_vm_stays_usable() {
    let runtime = LuaRuntime::new(LuaLimits {
        timeout: Duration::from_millis(100),
        ..LuaLimits::default()
    });
    let started = Instant::now();
    let err = eval_health_script(&runtime, "while true do end", Libraries::Open, &json!({})).unwrap_err();
    assert_eq!(err, LuaError::Timeout(Duration::from_millis(100)));
    assert!(started.elapsed() < Duration::from_secs(2));
    // pcall, xpcall and coroutines cannot swallow the time-out.
    for script in [
        "while true do pcall(function() while true do end end) end",
        "while true do xpcall(function() while true do end end, function(e) return e end) end",
        "local co = coroutine.create(function() while true do end end) while true do coroutine.resume(co) end",
        "local f = coroutine.wrap(function() while true do end end) f()",
    ] {
        let started = Instant::now();
        let err = eval_health_script(&runtime, script, Libraries::Open, &json!({})).unwrap_err();
        assert_eq!(err, LuaError::Timeout(Duration::from_millis(100)), "{script}");
        assert!(started.elapsed() < Duration::from_secs(2), "{script}");
    }
    let ok = eval_health_script(&runtime, "return {status='Healthy'}", Libraries::Open, &json!({}));
    assert_eq!(ok.unwrap(), Some(HealthStatus::healthy("")));
}

#[test]
fn infinite_loop_on_one_thread_does_not_stall_another() {
    let slow = std::thread::spawn(|| {
        let runtime = LuaRuntime::new(LuaLimits {
            timeout: Duration::from_millis(300),
            ..LuaLimits::default()
        });
        eval_health_script(&runtime, "while true do end", Libraries::Open, &json!({}))
    });
    let started = Instant::now();
    for _ in 0..100 {
        let got = health("return {status='Healthy'}", &json!({})).unwrap();
        assert_eq!(got, Some(HealthStatus::healthy("")));
    }
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(slow.join().unwrap(), Err(LuaError::Timeout(_))));
}

#[test]
fn memory_bomb_hits_the_cap_and_the_vm_recovers() {
    let runtime = LuaRuntime::new(LuaLimits {
        memory_bytes: 8 * 1024 * 1024,
        ..LuaLimits::default()
    });
    for script in [
        "local t = {} local i = 1 while true do t[i] = {i, i, i} i = i + 1 end",
        "local s = 'x' while true do s = s .. s end",
        "return {status = 'Healthy', message = string.rep('x', 100000000)}",
        "local t = {} while true do pcall(function() t[#t + 1] = string.rep('y', 1000000) .. #t end) end",
    ] {
        let err = eval_health_script(&runtime, script, Libraries::Open, &json!({})).unwrap_err();
        assert!(
            matches!(err, LuaError::Memory(_) | LuaError::Timeout(_)),
            "{script}: {err:?}"
        );
        assert!(
            matches!(err, LuaError::Memory(_)) || script.contains("pcall"),
            "{script}: {err:?}"
        );
    }
    let ok = eval_health_script(
        &runtime,
        "return {status='Healthy', message=string.rep('a', 1000)}",
        Libraries::Open,
        &json!({}),
    );
    assert_eq!(ok.unwrap().unwrap().message.len(), 1000);
}

#[test]
fn forbidden_libraries_are_absent_even_with_open_libs() {
    for libraries in [Libraries::Open, Libraries::Restricted] {
        for name in [
            "io",
            "debug",
            "dofile",
            "loadfile",
            "load",
            "loadstring",
            "getfenv",
            "setfenv",
            "collectgarbage",
            "jit",
            "ffi",
            "module",
            "newproxy",
        ] {
            let script = format!("return {{status = 'Healthy', message = type({name})}}");
            let got = eval_health_script(&LuaRuntime::default(), &script, libraries, &json!({}));
            assert_eq!(got.unwrap().unwrap().message, "nil", "{name} with {libraries:?}");
        }
        for call in [
            "os.execute('true')",
            "os.exit(1)",
            "os.remove('/tmp/x')",
            "os.getenv('HOME')",
        ] {
            let script = format!("local os = require('os') return {call}");
            let err = eval_health_script(&LuaRuntime::default(), &script, libraries, &json!({})).unwrap_err();
            assert!(err.to_string().contains("attempt to call"), "{call}: {err}");
        }
    }
}

#[test]
fn os_is_safe_and_require_os_works() {
    let got = health_restricted(
        "local os = require('os') return {status = 'Healthy', message = type(os.time()) .. type(os.date('%Y')) .. type(os.clock())}",
        &json!({}),
    );
    assert_eq!(got.unwrap().unwrap().message, "numberstringnumber");
    // Without open libs there is no global os, string or math (Argo CD's default for argocd-cm).
    let got = health_restricted(
        "return {status = 'Healthy', message = type(os) .. type(string) .. type(math) .. type(table)}",
        &json!({}),
    );
    assert_eq!(got.unwrap().unwrap().message, "nilnilniltable");
    assert_eq!(
        expr(
            "type(os) .. type(string) .. type(math) .. type(coroutine)",
            &json!({})
        ),
        "tabletabletabletable"
    );
    assert_eq!(expr("require('os') == os", &json!({})), "true");
    let err = health("require('io')", &json!({})).unwrap_err();
    assert!(err.to_string().contains("module 'io' not found"), "{err}");
}

#[test]
fn numbers_format_like_gopher_lua() {
    let obj = json!({"spec": {"replicas": 3, "ratio": 0.5, "big": 1e15, "huge": 1e21, "epochMicros": 1_764_500_000_000_000_i64}});
    // (expression, what gopher-lua prints)
    let cases = [
        ("obj.spec.replicas", "3"),
        ("obj.spec.ratio", "0.5"),
        ("obj.spec.replicas / 2", "1.5"),
        ("obj.spec.replicas * 2", "6"),
        ("obj.spec.big", "1000000000000000"),
        ("obj.spec.epochMicros", "1764500000000000"),
        ("obj.spec.huge", "1e+21"),
        ("2^53", "9007199254740992"),
        ("-2^63", "-9223372036854775808"),
        ("2^63", "9.223372036854776e+18"),
        ("-0", "0"),
        ("0.1 + 0.2", "0.30000000000000004"),
        ("1234567.5", "1.2345675e+06"),
        ("1/0", "+Inf"),
        ("string.format('%s', obj.spec.big)", "1000000000000000"),
        (
            "('%s/%d/%5.1f'):format(1e15, 1e15, 2)",
            "1000000000000000/1000000000000000/  2.0",
        ),
        ("string.format('%d', 1e21)", "-9223372036854775808"),
        (
            "string.format('100%% %s %s', 'x', 2^53)",
            "100% x 9007199254740992",
        ),
        ("string.format('%s', {}) ~= nil", "true"),
        ("tostring(nil) .. tostring(true)", "niltrue"),
        ("math.type", "nil"),
        ("type(obj.spec.replicas)", "number"),
    ];
    for (expression, expected) in cases {
        assert_eq!(expr(expression, &obj), expected, "{expression}");
    }
    // A number as the message is formatted the same way.
    let message = health("return {status = 'Healthy', message = 1e15}", &obj)
        .unwrap()
        .unwrap();
    assert_eq!(message.message, "1000000000000000");
    // tostring keeps its argument check and __tostring.
    let err = health("return tostring()", &obj).unwrap_err();
    assert!(err.to_string().contains("bad argument #1 to 'tostring'"), "{err}");
    let named = "return tostring(setmetatable({}, {__tostring = function() return 'named' end}))";
    assert_eq!(expr(&format!("(function() {named} end)()"), &obj), "named");
    // Known divergence: `..` uses LuaJIT's own conversion (%.14g) and cannot be hooked.
    assert_eq!(
        expr("'' .. obj.spec.replicas .. '/' .. 2^40", &obj),
        "3/1099511627776"
    );
}

#[test]
fn nested_tables_null_and_array_holes() {
    let obj =
        json!({"status": {"conditions": [{"type": "A"}, null, {"type": "C"}], "gone": null}, "list": []});
    assert_eq!(
        expr(
            "obj.status.conditions[1].type .. obj.status.conditions[3].type",
            &obj
        ),
        "AC"
    );
    assert_eq!(expr("obj.status.conditions[2] == nil", &obj), "true");
    assert_eq!(expr("obj.status.gone == nil", &obj), "true");
    assert_eq!(expr("#obj.list", &obj), "0");
    let count = "local n = 0 for _ in pairs(obj.status.conditions) do n = n + 1 end return n";
    let script = format!("local function f() {count} end return {{status='Healthy', message=tostring(f())}}");
    assert_eq!(health(&script, &obj).unwrap().unwrap().message, "2");
}

#[test]
fn globals_do_not_leak_between_evaluations() {
    let first = "leaked = 'yes'; string.leak = 'yes'; table.insert = nil; os.time = nil; obj.spec.x = 1; return {status='Healthy'}";
    health(first, &json!({"spec": {}})).unwrap();
    let probe = "return {status='Healthy', message = tostring(leaked) .. tostring(string.leak) .. type(table.insert) .. type(os.time)}";
    assert_eq!(
        health(probe, &json!({})).unwrap().unwrap().message,
        "nilnilfunctionfunction"
    );
    // The metatables of shared tables are hidden, so they cannot be modified either.
    assert_eq!(expr("getmetatable('')", &json!({})), "false");
    assert_eq!(expr("getmetatable(string)", &json!({})), "false");
    assert_eq!(expr("getmetatable(_G)", &json!({})), "false");
    // The same script text reuses its compiled chunk yet sees the new object each time.
    let script = "return {status = obj.s}";
    assert_eq!(
        health(script, &json!({"s": "Healthy"})).unwrap().unwrap().status,
        HealthStatusCode::Healthy
    );
    assert_eq!(
        health(script, &json!({"s": "Degraded"})).unwrap().unwrap().status,
        HealthStatusCode::Degraded
    );
}

#[test]
fn string_methods_and_globals_table_work() {
    assert_eq!(expr("('abc'):upper()", &json!({})), "ABC");
    assert_eq!(expr("string.format('%d/%d', 1, 2)", &json!({})), "1/2");
    assert_eq!(expr("_G.obj.a", &json!({"a": "x"})), "x");
    assert_eq!(expr("select('#', 1, 2, 3)", &json!({})), "3");
}

#[test]
fn lazy_obj_behaves_like_a_plain_table() {
    let obj = json!({
        "metadata": {"labels": {"b": "2", "a": "1"}, "name": "x"},
        "spec": {"containers": [{"name": "c1", "ports": [{"port": 80}]}, {"name": "c2"}], "replicas": 2},
        "status": {"phase": "Running"}
    });
    // pairs and next on a table never indexed before.
    let script = "local keys = {} for k, v in pairs(obj.metadata.labels) do keys[#keys + 1] = k .. '=' .. v end table.sort(keys) return {status = 'Healthy', message = table.concat(keys, ',')}";
    assert_eq!(health(script, &obj).unwrap().unwrap().message, "a=1,b=2");
    assert_eq!(expr("next(obj.status)", &obj), "phase");
    assert_eq!(expr("next(obj.metadata, nil) ~= nil", &obj), "true");
    // Arrays are complete tables with lazy object elements.
    assert_eq!(expr("#obj.spec.containers", &obj), "2");
    assert_eq!(expr("obj.spec.containers[1].ports[1].port", &obj), "80");
    let names = "local n = {} for i, c in ipairs(obj.spec.containers) do n[i] = c.name end return {status='Healthy', message=table.concat(n, '+')}";
    assert_eq!(health(names, &obj).unwrap().unwrap().message, "c1+c2");
    // Writes before any read keep the other fields; assigning nil really removes a field.
    let writes = "obj.spec.replicas = nil obj.metadata.extra = 'e' return {status='Healthy', message=tostring(obj.spec.replicas) .. tostring(#obj.spec.containers) .. obj.metadata.extra .. obj.metadata.name}";
    assert_eq!(health(writes, &obj).unwrap().unwrap().message, "nil2ex");
    // Missing fields read as nil; the shared metatable is hidden.
    assert_eq!(expr("obj.spec.nothing", &obj), "nil");
    assert_eq!(expr("getmetatable(obj)", &obj), "false");
    assert_eq!(expr("type(obj.metadata)", &obj), "table");
    // A script cannot break a later evaluation's lazy objects.
    health("setmetatable = nil rawset = nil return nil", &obj).unwrap();
    assert_eq!(expr("obj.metadata.name", &obj), "x");
}

#[test]
fn wrapped_pairs_reports_errors_like_pairs() {
    let err = health("for k in pairs(obj.nothing) do end", &json!({})).unwrap_err();
    assert!(
        err.to_string()
            .contains("bad argument #1 to 'pairs' (table expected, got nil)"),
        "{err}"
    );
}

#[test]
fn runtime_is_shareable_and_threads_evaluate_independently() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<LuaRuntime>();
    let runtime = std::sync::Arc::new(LuaRuntime::default());
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let runtime = std::sync::Arc::clone(&runtime);
            std::thread::spawn(move || {
                for round in 0..200 {
                    let obj = json!({"n": worker * 1000 + round});
                    let got = eval_health_script(
                        &runtime,
                        "counter = (counter or 0) + 1 return {status = 'Healthy', message = tostring(obj.n) .. '/' .. counter}",
                        Libraries::Open,
                        &obj,
                    );
                    let expected = format!("{}/1", worker * 1000 + round);
                    assert_eq!(got.unwrap().unwrap().message, expected);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
}

#[test]
fn lazy_fields_are_converted_once_and_stay_removed() {
    let obj = json!({"spec": {"replicas": 3, "paused": false, "name": "n", "tags": ["a"]}});
    // Read, remove, read again: the removed field does not come back from the JSON.
    let script = "local s = obj.spec local before = s.replicas s.replicas = nil return {status='Healthy', message=tostring(before) .. '/' .. tostring(s.replicas) .. '/' .. tostring(s.paused) .. '/' .. s.name .. '/' .. #s.tags}";
    assert_eq!(health(script, &obj).unwrap().unwrap().message, "3/nil/false/n/1");
    // A field read first and then iterated appears exactly once; a changed value is kept.
    let script = "local s = obj.spec s.name = 'changed' local n, seen = 0, '' for k, v in pairs(s) do n = n + 1 if k == 'name' then seen = v end end return {status='Healthy', message=n .. seen}";
    assert_eq!(health(script, &obj).unwrap().unwrap().message, "4changed");
    // Non-string keys on objects are nil, as in a converted table.
    assert_eq!(expr("obj.spec[1]", &obj), "nil");
    assert_eq!(expr("obj.spec[true]", &obj), "nil");
}

#[test]
fn interned_keys_and_the_reused_pending_table_do_not_leak_between_evaluations() {
    let script = "return {status = obj.metadata.state, message = tostring(obj.metadata['123']) .. tostring(obj.spec and obj.spec.x)}";
    let first = json!({"metadata": {"state": "Healthy", "123": "a"}, "spec": {"x": 1}});
    let second = json!({"metadata": {"state": "Degraded"}});
    let third = json!({"metadata": {"state": "Progressing", "123": "c"}, "spec": {"y": 2}});
    for _ in 0..3 {
        let got = health(script, &first).unwrap().unwrap();
        assert_eq!(
            (got.status, got.message.as_str()),
            (HealthStatusCode::Healthy, "a1")
        );
        let got = health(script, &second).unwrap().unwrap();
        assert_eq!(
            (got.status, got.message.as_str()),
            (HealthStatusCode::Degraded, "nilnil")
        );
        let got = health(script, &third).unwrap().unwrap();
        assert_eq!(
            (got.status, got.message.as_str()),
            (HealthStatusCode::Progressing, "cnil")
        );
    }
    // An evaluation that fails half-way leaves nothing behind for the next one.
    let failing = "local s = obj.spec error('boom')";
    assert!(health(failing, &first).is_err());
    let got = health(script, &third).unwrap().unwrap();
    assert_eq!(got.message, "cnil");
    // A lazy table kept in a global of one evaluation is gone in the next one.
    health("kept = obj.spec return nil", &first).unwrap();
    assert_eq!(expr("kept", &first), "nil");
}

#[test]
fn a_part_of_obj_can_be_the_result() {
    let obj = json!({"status": {"health": {"status": "Degraded", "message": "from obj"}}});
    let got = health("return obj.status.health", &obj).unwrap().unwrap();
    assert_eq!(got, HealthStatus::new(HealthStatusCode::Degraded, "from obj"));
    let got = health("local h = obj.status.health local s = h.status return h", &obj)
        .unwrap()
        .unwrap();
    assert_eq!(got, HealthStatus::new(HealthStatusCode::Degraded, "from obj"));
}
