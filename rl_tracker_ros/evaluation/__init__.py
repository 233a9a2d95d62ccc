"""Evaluation on recorded sequences (OTB protocol); no ROS imports."""
