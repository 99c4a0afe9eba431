//! Shell-style globs over call names (and queue names): one matcher for the fault rules
//! (`MQSHIM_FAULTS`) and the command's filters (`mqshim report -e`, `mqshim diff -i`).

/// Whether `name` matches the shell-style `pattern`: `*` any run of characters (none included),
/// `?` exactly one, anything else itself.
pub fn matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    // Where the last `*` was, and the name position it has consumed up to: on a mismatch the
    // star takes one more character and matching resumes after it.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            star = Some((sp, sn + 1));
            pi = sp + 1;
            ni = sn + 1;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn stars_and_question_marks_match_anywhere() {
        assert!(matches("mq_*send", "mq_timedsend") && matches("mq_*send", "mq_send"));
        assert!(matches("*receive", "mq_timedreceive") && matches("msg?nd", "msgsnd"));
        assert!(matches("*", "") && matches("a*b*c", "a-b-b-c") && matches("**x", "x") && matches("mq_send", "mq_send"));
        assert!(!matches("msg?nd", "msgnd") && !matches("mq_*send", "mq_sender") && !matches("a*b*c", "a-b-b-") && !matches("mq_send", "mq_timedsend"));
    }
}
