//! The `sipr` binary. This is still the placeholder of the foundations
//! issue: it answers `-V`/`--version` and `-h`/`--help`, and `-m MB -c`
//! checks that a shared-memory pool of that size can be built. The server
//! proper (cfg, modules, forked workers) lands with the runtime issue.

use std::process::ExitCode;

fn usage() -> String {
    format!(
        "{}\nUsage: sipr [options]\n\
         Options:\n\
         \x20   -V, --version   print version and exit\n\
         \x20   -h, --help      print this help and exit\n\
         \x20   -m MB           size of the shared memory pool in MB (default {})\n\
         \x20   -c              check: build the shared memory pool, print its statistics, exit\n",
        sipr_core::version_line(),
        sipr_core::DEFAULT_SHM_MB
    )
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut shm_mb = sipr_core::DEFAULT_SHM_MB;
    let mut check = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-V" | "-v" | "--version" => {
                println!("{}", sipr_core::version_line());
                return ExitCode::SUCCESS;
            }
            "-h" | "--help" => {
                print!("{}", usage());
                return ExitCode::SUCCESS;
            }
            "-m" => {
                let Some(v) = it.next() else {
                    eprintln!("sipr: option -m needs a value (MB)");
                    return ExitCode::from(255);
                };
                match v.parse::<usize>() {
                    Ok(mb) => shm_mb = mb,
                    Err(_) => {
                        eprintln!("sipr: bad shared memory size for -m: '{v}' (a whole number of MB)");
                        return ExitCode::from(255);
                    }
                }
            }
            "-c" => check = true,
            other => {
                eprintln!("sipr: unknown option '{other}'\n{}", usage());
                return ExitCode::from(255);
            }
        }
    }
    if !check {
        eprintln!("sipr: the server runtime is not built yet; use -c to check the shared memory pool");
        return ExitCode::from(1);
    }
    match sipr_mem::ShmPool::create_mb(shm_mb) {
        Ok(pool) => {
            let s = pool.stats();
            println!(
                "shm pool ok: total={} free={} used={} real_used={} fragments={}",
                s.total, s.free, s.used, s.real_used, s.fragments
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sipr: cannot create the shared memory pool (-m {shm_mb}): {e}");
            ExitCode::from(255)
        }
    }
}
