
8
{app="web", namespace="shop"}
─Бо╙hello world