"""Views of the news room (issue 22): the Fundamentals tab; the news dock and chart markers to come."""
