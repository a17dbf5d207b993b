package scheduler

import "time"

// stamp is an instant in 8 bytes, Unix nanoseconds (0 is the zero time),
// where a time.Time takes 24: the scheduler keeps several per account, and
// an estate holds 100,000 accounts. It is wall-clock time, as cron's
// schedule times are.
type stamp int64

func stampOf(t time.Time) stamp {
	if t.IsZero() {
		return 0
	}
	return stamp(t.UnixNano())
}

// time is the stamp as a time.Time; the zero stamp gives the zero time.
func (s stamp) time() time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(s))
}
