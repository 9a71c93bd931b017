//! Putting a large tenant's lists in order: sorted through compact keys, then moved into place
//! once, so a million users are neither compared through pointers nor held twice.

/// A key that sorts `text` with its first eight bytes as one number: `(prefix(a), a)` orders
/// as `a` does, and most comparisons end at the number without reading the text.
pub(crate) fn prefix(text: &str) -> u64 {
    let mut head = [0u8; 8];
    let n = text.len().min(8);
    head[..n].copy_from_slice(&text.as_bytes()[..n]);
    u64::from_be_bytes(head)
}

/// The positions `0..n` in the order of `key`, equal keys in their original order. `head(i)`
/// is [`prefix`] of the first text of `key(i)`, so the sort compares eight bytes held in its
/// own array and reaches for the keys only on a tie; 16 bytes a position, not the keys'.
pub(crate) fn order_by<K: Ord>(
    n: usize,
    head: impl Fn(usize) -> u64,
    key: impl Fn(usize) -> K,
) -> Vec<usize> {
    let mut heads: Vec<(u64, u32)> = (0..n).map(|i| (head(i), i as u32)).collect();
    // Unstable is enough: the position breaks ties, keeping equal keys in their original order.
    heads.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| key(a.1 as usize).cmp(&key(b.1 as usize)))
            .then(a.1.cmp(&b.1))
    });
    heads.into_iter().map(|(_, i)| i as usize).collect()
}

/// Puts `items` in the order `order` gives (`items[i]` becomes what was at `order[i]`), in
/// place, following each cycle of the permutation once.
pub(crate) fn permute<T>(items: &mut [T], mut order: Vec<usize>) {
    for start in 0..items.len() {
        let mut current = start;
        while order[current] != current {
            let next = order[current];
            order[current] = current;
            if next == start {
                break;
            }
            items.swap(current, next);
            current = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{order_by, permute, prefix};

    #[test]
    fn permute_puts_each_item_where_the_order_says() {
        let orders: [&[usize]; 5] = [&[], &[0], &[1, 0], &[2, 0, 1, 4, 3, 5], &[5, 4, 3, 2, 1, 0]];
        for order in orders {
            let mut items: Vec<char> = ('a'..).take(order.len()).collect();
            let expected: Vec<char> = order.iter().map(|&i| items[i]).collect();
            permute(&mut items, order.to_vec());
            assert_eq!(items, expected, "order {order:?}");
        }
    }

    #[test]
    fn the_prefix_key_orders_as_the_text_does() {
        let texts = [
            "",
            "a",
            "ab",
            "ab\0",
            "ab\0c",
            "abc",
            "abcdefgh",
            "abcdefgh",
            "abcdefghi",
            "abcdefgg~",
            "b",
            "\u{e9}",
            "\u{e9}t\u{e9}",
            "Z",
            "a@x.com",
            "a.b@x.com",
        ];
        for a in texts {
            for b in texts {
                assert_eq!(
                    (prefix(a), a).cmp(&(prefix(b), b)),
                    a.cmp(b),
                    "{a:?} against {b:?}"
                );
            }
        }
        let order = order_by(texts.len(), |i| prefix(texts[i]), |i| texts[i]);
        let mut expected: Vec<usize> = (0..texts.len()).collect();
        expected.sort_by_key(|&i| texts[i]);
        assert_eq!(order, expected, "equal texts stay in their original order");
    }
}
