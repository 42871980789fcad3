package coord

// isLeading reports whether this process leads s's plugin now.
func isLeading(s *Subscription) bool {
	_, ok := s.Term()
	return ok
}
