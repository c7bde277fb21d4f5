package cloud

// shareRoutes: time ranges shared with guest accounts or links.
func (s *Server) shareRoutes() []route { return nil }
