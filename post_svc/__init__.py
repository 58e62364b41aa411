"""post_svc: posts, likes, comments, saves, and the hashtag and place indexes over them."""
