"""Qt pieces shared by Image Lab widgets."""
