"""What reads the home for people and other skills: the posture fragment and finding filters."""
