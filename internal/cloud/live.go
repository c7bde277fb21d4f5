package cloud

// liveRoutes: live-view signalling between browsers and hubs, TURN credentials.
func (s *Server) liveRoutes() []route { return nil }
