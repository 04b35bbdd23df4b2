//! How many SMS parts a text costs. GSM-7 (GSM 03.38) when every character is in its basic set or
//! extension table: 160 septets alone, 153 per part when split (7 go to the concatenation header);
//! an extension character (`^ { } \ [ ~ ] | €` and form feed) costs two septets, and an escape pair
//! is never split across parts. One character outside both turns the whole text into UCS-2: 70
//! UTF-16 units alone, 67 per part, an emoji (a surrogate pair) costing two and never split.

/// The basic set: one septet each.
const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table: an escape and the character, two septets each.
const EXTENDED: &str = "^{}\\[~]|€\u{c}";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

/// A text's encoding and the parts it is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segments {
    pub encoding: Encoding,
    pub parts: usize,
}

/// The encoding `text` needs and how many parts it takes.
pub fn count(text: &str) -> Segments {
    if text.is_empty() {
        return Segments {
            encoding: Encoding::Gsm7,
            parts: 1,
        };
    }
    let gsm: Option<Vec<usize>> = text
        .chars()
        .map(|c| {
            if BASIC.contains(c) {
                Some(1)
            } else if EXTENDED.contains(c) {
                Some(2)
            } else {
                None
            }
        })
        .collect();
    match gsm {
        Some(costs) => Segments {
            encoding: Encoding::Gsm7,
            parts: parts(&costs, 160, 153),
        },
        None => {
            let costs: Vec<usize> = text.chars().map(char::len_utf16).collect();
            Segments {
                encoding: Encoding::Ucs2,
                parts: parts(&costs, 70, 67),
            }
        }
    }
}

/// Parts for characters of `costs` units each: `single` fit one message; split, `per_part` each,
/// no character cut in two.
fn parts(costs: &[usize], single: usize, per_part: usize) -> usize {
    if costs.iter().sum::<usize>() <= single {
        return 1;
    }
    let mut parts = 1;
    let mut used = 0;
    for &cost in costs {
        if used + cost > per_part {
            parts += 1;
            used = 0;
        }
        used += cost;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gsm(parts: usize) -> Segments {
        Segments {
            encoding: Encoding::Gsm7,
            parts,
        }
    }

    fn ucs2(parts: usize) -> Segments {
        Segments {
            encoding: Encoding::Ucs2,
            parts,
        }
    }

    #[test]
    fn gsm7_fits_160_alone_and_153_a_part() {
        assert_eq!(count(&"a".repeat(160)), gsm(1));
        assert_eq!(count(&"a".repeat(161)), gsm(2));
        assert_eq!(count(&"a".repeat(306)), gsm(2));
        assert_eq!(count(&"a".repeat(307)), gsm(3));
        assert_eq!(
            count("Café at 10:00 — no"),
            ucs2(1),
            "an em dash is not GSM"
        );
        assert_eq!(count("Ünïcode? äöü ñ à é are GSM, ï is not"), ucs2(1));
        assert_eq!(count("£5 @ 10:00 ¿ok?"), gsm(1));
    }

    #[test]
    fn extension_characters_cost_two_and_are_not_split() {
        assert_eq!(count(&"€".repeat(80)), gsm(1));
        assert_eq!(count(&"€".repeat(81)), gsm(2));
        // 152 plain characters, then a two-septet one: it goes whole to the second part.
        let text = format!("{}{}{}", "a".repeat(152), "{", "a".repeat(10));
        assert_eq!(count(&text), gsm(2));
        let text = format!("{}{}", "a".repeat(305), "[");
        assert_eq!(
            count(&text),
            gsm(3),
            "305 + 2 septets cannot share two parts of 153"
        );
    }

    #[test]
    fn ucs2_fits_70_alone_and_67_a_part_and_emoji_cost_two() {
        assert_eq!(count(&"ж".repeat(70)), ucs2(1));
        assert_eq!(count(&"ж".repeat(71)), ucs2(2));
        assert_eq!(count(&"ж".repeat(134)), ucs2(2));
        assert_eq!(count(&"ж".repeat(135)), ucs2(3));
        assert_eq!(count(&"😀".repeat(35)), ucs2(1));
        assert_eq!(count(&"😀".repeat(36)), ucs2(2));
        let text = format!("{}😀", "ж".repeat(66));
        assert_eq!(count(&format!("{text}{}", "ж".repeat(10))), ucs2(2));
    }
}
