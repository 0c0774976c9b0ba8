//! Text and author generation for the simulator: filled templates with social-media noise
//! (handles, hashtags, emoji, URLs, elongations), misspelled brand names, personal data that
//! passes real checksums, and copy-paste edits.

use rand::rngs::SmallRng;
use rand::Rng;

use super::corpus::{SimBrand, CITIES, EMOJI, FIRST_NAMES, HASHTAGS};
use super::templates::templates;

pub struct SimAuthor {
    pub id: String,
    pub handle: String,
    pub followers: u64,
    pub verified: bool,
}

/// An author from a pool of 200k; 1 in 200 posts comes from an influencer (100k–5M followers).
pub fn author(rng: &mut SmallRng) -> SimAuthor {
    if rng.gen::<f64>() < 0.005 {
        let i = rng.gen_range(0..60u32);
        let followers = 100_000 + ((i as u64 * 7_919) % 50) * 98_000;
        return SimAuthor {
            id: format!("inf{i}"),
            handle: format!("@{}_news{i}", FIRST_NAMES[i as usize % FIRST_NAMES.len()]),
            followers,
            verified: i % 3 != 0,
        };
    }
    let i: u32 = rng.gen_range(0..200_000);
    // Log-normal followers (median ~150), stable per author.
    let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let u1 = ((h >> 11) as f64 / (1u64 << 53) as f64).max(1e-9);
    let u2 = ((h.rotate_left(17) >> 11) as f64) / (1u64 << 53) as f64;
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    let followers = (5.0 + 1.6 * z).exp().min(90_000.0) as u64;
    SimAuthor {
        id: format!("u{i}"),
        handle: format!("@{}{}", FIRST_NAMES[i as usize % FIRST_NAMES.len()], i),
        followers,
        verified: false,
    }
}

pub struct Composed {
    pub text: String,
    pub pii: Vec<&'static str>,
    pub misspelled: bool,
}

pub fn compose(
    rng: &mut SmallRng,
    brand: &SimBrand,
    lang: &str,
    intent: &str,
    product: &str,
    pii_rate: f64,
) -> Composed {
    let rows = templates(lang);
    let row = rows
        .iter()
        .find(|(i, _)| *i == intent)
        .map(|(_, t)| *t)
        .unwrap_or(rows[0].1);
    let tpl = row[rng.gen_range(0..row.len())];
    let misspelled = rng.gen::<f64>() < 0.03;
    let name = if misspelled {
        misspell(rng, brand.name)
    } else if rng.gen::<f64>() < 0.3 {
        brand.handle.to_string()
    } else {
        brand.name.to_string()
    };
    let mut text = tpl
        .replace("{b}", &name)
        .replace("{p}", product)
        .replace("{n}", &rng.gen_range(2..9).to_string())
        .replace("{c}", CITIES[rng.gen_range(0..CITIES.len())]);
    if rng.gen::<f64>() < 0.25 && !text.contains(brand.handle) {
        text = format!("{} {text}", brand.handle);
    }
    if rng.gen::<f64>() < 0.1 {
        text = elongate(rng, &text);
    }
    if rng.gen::<f64>() < 0.3 {
        text.push(' ');
        text.push_str(EMOJI[rng.gen_range(0..EMOJI.len())]);
    }
    if rng.gen::<f64>() < 0.15 {
        text.push(' ');
        text.push_str(HASHTAGS[rng.gen_range(0..HASHTAGS.len())]);
    }
    if rng.gen::<f64>() < 0.08 {
        text.push_str(&format!(
            " https://t.co/{:010x}",
            rng.gen::<u64>() & 0xff_ffff_ffff
        ));
    }
    let mut pii = Vec::new();
    if rng.gen::<f64>() < pii_rate {
        let (kind, value) = match rng.gen_range(0..4) {
            0 => ("card", card_number(rng)),
            1 => ("iban", iban(rng)),
            2 => (
                "email",
                format!(
                    "{}.{}@example.com",
                    FIRST_NAMES[rng.gen_range(0..FIRST_NAMES.len())],
                    rng.gen_range(1..999)
                ),
            ),
            _ => (
                "phone",
                format!(
                    "+33 6 {:02} {:02} {:02} {:02}",
                    rng.gen_range(0..100),
                    rng.gen_range(0..100),
                    rng.gen_range(0..100),
                    rng.gen_range(0..100)
                ),
            ),
        };
        text.push_str(" - ");
        text.push_str(&value);
        pii.push(kind);
    }
    Composed {
        text,
        pii,
        misspelled,
    }
}

/// One typo in a word of 5+ letters: a swap, a drop or a doubled letter.
pub fn misspell(rng: &mut SmallRng, name: &str) -> String {
    let words: Vec<&str> = name.split(' ').collect();
    let wi = words
        .iter()
        .position(|w| w.chars().count() >= 5)
        .unwrap_or(0);
    let mut chars: Vec<char> = words[wi].chars().collect();
    let n = chars.len();
    if n >= 3 {
        let i = rng.gen_range(1..n - 1);
        match rng.gen_range(0..3) {
            0 => chars.swap(i, i + 1),
            1 => {
                chars.remove(i);
            }
            _ => {
                let c = chars[i];
                chars.insert(i, c);
            }
        }
    }
    let mut out: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    out[wi] = chars.into_iter().collect();
    out.join(" ")
}

fn elongate(rng: &mut SmallRng, text: &str) -> String {
    let vowels = ['o', 'a', 'e', 'u', 'i'];
    let mut out = String::with_capacity(text.len() + 4);
    let mut done = false;
    for c in text.chars() {
        out.push(c);
        if !done && vowels.contains(&c) && rng.gen::<f64>() < 0.15 {
            for _ in 0..rng.gen_range(2..5) {
                out.push(c);
            }
            done = true;
        }
    }
    out
}

/// A 16-digit number that passes the Luhn check, sometimes grouped by four.
pub fn card_number(rng: &mut SmallRng) -> String {
    let mut d: Vec<u8> = vec![4];
    for _ in 0..14 {
        d.push(rng.gen_range(0..10));
    }
    let check = luhn_check_digit(&d);
    d.push(check);
    let s: String = d.iter().map(|x| char::from(b'0' + x)).collect();
    if rng.gen::<bool>() {
        s.as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap_or(""))
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        s
    }
}

pub fn luhn_check_digit(digits: &[u8]) -> u8 {
    let mut sum = 0u32;
    for (i, &x) in digits.iter().rev().enumerate() {
        let mut v = x as u32;
        if i % 2 == 0 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    ((10 - sum % 10) % 10) as u8
}

/// A German IBAN with correct mod-97 check digits.
pub fn iban(rng: &mut SmallRng) -> String {
    let bban: String = (0..18)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect();
    // Check digits: move "DE00" to the end, letters to numbers (D=13, E=14), 98 - mod 97.
    let rearranged = format!("{bban}131400");
    let rem = rearranged
        .bytes()
        .fold(0u64, |acc, b| (acc * 10 + (b - b'0') as u64) % 97);
    format!("DE{:02}{bban}", 98 - rem)
}

/// A copy-paste variant: other handles, case, punctuation, emoji, a URL, a word added or
/// dropped — what bots and campaigns do.
pub fn light_edit(rng: &mut SmallRng, text: &str) -> String {
    let mut words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    let edits = rng.gen_range(1..3);
    for _ in 0..edits {
        match rng.gen_range(0..6) {
            0 => {
                let h = format!(
                    "@{}{}",
                    FIRST_NAMES[rng.gen_range(0..FIRST_NAMES.len())],
                    rng.gen_range(1..9999)
                );
                words.insert(0, h);
            }
            1 => {
                for w in words.iter_mut() {
                    *w = w.to_uppercase();
                }
            }
            2 => words.push(EMOJI[rng.gen_range(0..EMOJI.len())].to_string()),
            3 => words.push(format!(
                "https://t.co/{:010x}",
                rng.gen::<u64>() & 0xff_ffff_ffff
            )),
            4 => {
                if let Some(last) = words.last_mut() {
                    last.push_str("!!");
                }
            }
            _ => words.push(HASHTAGS[rng.gen_range(0..HASHTAGS.len())].to_string()),
        }
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn luhn_valid(s: &str) -> bool {
        let d: Vec<u8> = s
            .bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| b - b'0')
            .collect();
        luhn_check_digit(&d[..d.len() - 1]) == d[d.len() - 1]
    }

    #[test]
    fn cards_pass_luhn_and_ibans_pass_mod97() {
        let mut rng = SmallRng::seed_from_u64(1);
        for _ in 0..100 {
            assert!(luhn_valid(&card_number(&mut rng)));
            let ib = iban(&mut rng);
            let moved = format!("{}{}", &ib[4..], &ib[..4]);
            let digits: String = moved
                .chars()
                .map(|c| {
                    if c.is_ascii_alphabetic() {
                        (c as u32 - 'A' as u32 + 10).to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect();
            let rem = digits
                .bytes()
                .fold(0u64, |a, b| (a * 10 + (b - b'0') as u64) % 97);
            assert_eq!(rem, 1, "{ib}");
        }
    }

    #[test]
    fn misspelling_changes_exactly_one_word() {
        let mut rng = SmallRng::seed_from_u64(3);
        for _ in 0..50 {
            let m = misspell(&mut rng, "Northwind Air");
            assert_ne!(m, "Northwind Air");
            assert!(m.ends_with(" Air"));
        }
    }
}
