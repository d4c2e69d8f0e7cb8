# Vendored: the rule file of the Bengali stemmer (Rafi Kamal, 2014) that multilingual-rouge 0.0.1 needs
# but does not ship (its wheel lacks bengali_stemmer/common.rules, so lang='bengali' with stemming fails).
# Source: https://github.com/abhik1505040/bengali-stemmer/blob/375186caee8e50e3260dd6bc02d20d50277f3e39/bengali_stemmer/rafikamal2014/common.rules
# (the repository the XL-Sum authors' multilingual_rouge_scoring/requirements.txt installs). Licence below.
# MIT License
#
# Copyright (c) 2017 BanglaKit Project Contributors
#
# Permission is hereby granted, free of charge, to any person obtaining a copy
# of this software and associated documentation files (the "Software"), to deal
# in the Software without restriction, including without limitation the rights
# to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
# copies of the Software, and to permit persons to whom the Software is
# furnished to do so, subject to the following conditions:
#
# The above copyright notice and this permission notice shall be included in all
# copies or substantial portions of the Software.
#
# THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
# IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
# FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
# AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
# LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
# OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
# SOFTWARE.
# Changes: none to the rules; wrapped in a Python string so that it ships as code.

COMMON_RULES = """{
	ই			# এটাই, সেটাই
	ও			# এটাও, সেটাও
	তো			# হয়তো, করলতো
}

{
	কে			# এটাকে, আমাকে
	তে			# হাসতে, গাইতে
	রা			# রহিমরা, করিমরা
}

{
	চ্ছি			# খাচ্ছি, যাচ্ছি
	চ্ছিল			# হচ্ছিল
	চ্ছে			# হচ্ছে, যাচ্ছে
	চ্ছিস			# যাচ্ছিস, খাচ্ছিস
	চ্ছিলেন			# যাচ্ছিলেন, খাচ্ছিলেন
	চ্ছ			# যাচ্ছ, খাচ্ছ
	
	য়েছে			# হয়েছে, খেয়েছে
	েছ			# দেখেছ, পেরেছ
	েছে			# করেছে, পেরেছে
	েছেন			# করেছেন, পেরেছেন
	
	রছ -> র			# করছ, পারছ
	রব -> র			# করব, পারব
	
	েল 			# গেল, পেল
	েলো			# খেলো 
	ওয়া			# যাওয়া, খাওয়া 
	েয়ে  -> া		# গেয়ে, পেয়ে
	য়			# হয়, খায়
	য়ে			# হয়ে, ধুয়ে
	
	য়েছিল			# হয়েছিল			
	েয়েছিল  -> া		# পেয়েছিল, গেয়েছিল	
	েছিল			# করেছিল, বলেছিল
	
	েয়েছিলেন -> া		# পেয়েছিলেন, গেয়েছিলেন 	
	ে.েছিলেন ->  া.		# হেসেছিলেন, নেচেছিলেন
	েছিলেন			# করেছিলেন, বলেছিলেন
	লেন			# করলেন, বললেন
	
	দের			# রহিমদের, করিমদের 
	ে.ে -> া.		# হেসে, নেচে, রেখে	
	ের			# রহিমের, করিমের
	ার			# চলার, বলার
	
	েন			# দেখেন, করেন
	বেন			# দেখবেন, করবেন
	
	িস			# দেখিস, করিস
	ছিস			# দেখছিস, করছিস
	ছিলি			# দেখছিলি, করছিলি
	ছি			# করছি, ভাবছি
	ছে			# করছে, পারছে
	লি			# দেখলি, করলি
	বি			# দেখবি, করবি
	
	ে			# বলে, বসে
}

{
	টি			# একটি, দশটি
	টির			# একটির, দশটির 
	েরটা			# রহিমেরটা, করিমেরটা 
	েরটার 			# রহিমেরটার, করিমেরটার 
	টা			# এটা, ওটা 
	টার			# এটার, ওটার 
	গুলো			# এগুলো, তারগুলো
	গুলোর 			# এগুলোর, তারগুলোর 
	েরগুলো			# রহিমেরগুলো, করিমেরগুলো
	েরগুলোর			# রহিমেরগুলোর, করিমেরগুলোর 
}
"""
