package cloud

// householdRoutes: members, devices joining by approval, household settings.
func (s *Server) householdRoutes() []route { return nil }
