//! Which addresses a local server listens on, for `local-bind-all-interfaces` (TR-1125 and SBP
//! "Local MCP Server Compromise", RS-14: a local server binds to loopback only, so nothing else on
//! the network can reach it). Linux lists every TCP socket of the network namespace in
//! `/proc/net/tcp` and `/proc/net/tcp6`, which is what `ss -ltn` reads; elsewhere the check is not
//! applicable.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The kernel's state number of a listening socket (`TCP_LISTEN`).
const LISTEN: &str = "0A";

/// The addresses of the sockets listening on `port`, IPv4 and IPv6.
pub(crate) fn listening_addresses(port: u16) -> Result<Vec<IpAddr>, String> {
    let mut addresses = Vec::new();
    for (path, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        match std::fs::read_to_string(path) {
            Ok(text) => addresses.extend(parse_proc_net(&text, v6, port)),
            // A kernel without IPv6 has no tcp6 table; without the IPv4 one there is nothing to read.
            Err(_) if v6 => {}
            Err(error) => {
                return Err(format!("{path} cannot be read ({error}): the sockets can only be listed on Linux"));
            }
        }
    }
    addresses.sort();
    addresses.dedup();
    Ok(addresses)
}

/// Whether a listener on `address` is reachable from this machine only.
pub(crate) fn is_loopback(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

/// The listening addresses on `port` in one `/proc/net/tcp{,6}` table. Each line reads
/// `sl local_address rem_address st …`; an address is the kernel's integers printed in hex (one
/// for IPv4, four for IPv6, each in the machine's byte order) and the port big-endian hex.
fn parse_proc_net(text: &str, v6: bool, port: u16) -> Vec<IpAddr> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local, state) = (fields.get(1)?, fields.get(3)?);
            if *state != LISTEN {
                return None;
            }
            let (address, local_port) = local.split_once(':')?;
            if u16::from_str_radix(local_port, 16).ok()? != port {
                return None;
            }
            parse_address(address, v6)
        })
        .collect()
}

fn parse_address(hex: &str, v6: bool) -> Option<IpAddr> {
    let word = |index: usize| hex.get(index * 8..index * 8 + 8).and_then(|word| u32::from_str_radix(word, 16).ok());
    if !v6 {
        return if hex.len() == 8 { Some(IpAddr::V4(Ipv4Addr::from(word(0)?.to_ne_bytes()))) } else { None };
    }
    if hex.len() != 32 {
        return None;
    }
    let mut bytes = [0_u8; 16];
    for index in 0..4 {
        bytes[index * 4..index * 4 + 4].copy_from_slice(&word(index)?.to_ne_bytes());
    }
    Some(IpAddr::V6(Ipv6Addr::from(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's hex form of an address, as `/proc/net/tcp{,6}` prints it on this machine.
    fn hex(address: IpAddr) -> String {
        let octets = match address {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        octets.chunks(4).map(|word| format!("{:08X}", u32::from_ne_bytes(word.try_into().unwrap()))).collect()
    }

    fn table(rows: &[(IpAddr, u16, &str)]) -> String {
        let mut text =
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
                .to_owned();
        for (index, (address, port, state)) in rows.iter().enumerate() {
            text.push_str(&format!(
                "   {index}: {}:{port:04X} 00000000:0000 {state} 00000000:00000000 00:00000000 00000000  1000        0 1234 1 0000000000000000 100 0 0 10 0\n",
                hex(*address)
            ));
        }
        text
    }

    #[test]
    fn listeners_on_the_port_are_read_and_judged() {
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let any: IpAddr = "0.0.0.0".parse().unwrap();
        let lan: IpAddr = "192.168.1.20".parse().unwrap();
        let v4 = table(&[(loopback, 8443, LISTEN), (any, 9000, LISTEN), (lan, 8443, "01"), (any, 8443, "06")]);
        assert_eq!(parse_proc_net(&v4, false, 8443), vec![loopback], "other ports and states are not listeners");
        assert_eq!(parse_proc_net(&table(&[(any, 8443, LISTEN)]), false, 8443), vec![any]);
        assert_eq!(parse_proc_net(&table(&[(lan, 8443, LISTEN)]), false, 8443), vec![lan]);

        let v6_loopback: IpAddr = "::1".parse().unwrap();
        let v6_any: IpAddr = "::".parse().unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let v6 = table(&[(v6_loopback, 8443, LISTEN), (v6_any, 8443, LISTEN), (mapped, 8443, LISTEN)]);
        assert_eq!(parse_proc_net(&v6, true, 8443), vec![v6_loopback, v6_any, mapped]);

        for address in [loopback, v6_loopback, mapped, "127.0.0.2".parse().unwrap()] {
            assert!(is_loopback(address), "{address}");
        }
        for address in [any, lan, v6_any, "::ffff:10.0.0.1".parse().unwrap()] {
            assert!(!is_loopback(address), "{address}");
        }
    }

    /// Rows as a little-endian Linux prints them, written out by hand, so the byte order is
    /// checked against the kernel's format rather than against the parser's own inverse.
    #[cfg(target_endian = "little")]
    #[test]
    fn the_kernel_s_own_notation_is_read() {
        let header =
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
        let v4 = format!(
            "{header}   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1 0 100 0 0 10 0\n   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 2 1 0 100 0 0 10 0\n"
        );
        let expected: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap(), "0.0.0.0".parse().unwrap()];
        assert_eq!(parse_proc_net(&v4, false, 8080), expected);
        let v6 = format!(
            "{header}   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 3 1 0 100 0 0 10 0\n   1: 0000000000000000FFFF00000100007F:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4 1 0 100 0 0 10 0\n"
        );
        let expected: Vec<IpAddr> = vec!["::1".parse().unwrap(), "::ffff:127.0.0.1".parse().unwrap()];
        assert_eq!(parse_proc_net(&v6, true, 8080), expected);
    }

    #[test]
    fn this_process_s_own_loopback_listener_is_found() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let addresses = listening_addresses(port).unwrap();
        assert_eq!(addresses, vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    }
}
